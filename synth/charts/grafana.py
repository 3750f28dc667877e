"""Grafana: Deployment, Service, provisioning (data source, dashboards) and the dashboards.

The admin credentials come from a Secret the README tells users to create;
it is never in dist/, and without it the pod does not start (no default
admin password ever serves).
"""

from __future__ import annotations

from typing import Any

import cdk8s
import yaml
from cdk8s_plus_33 import k8s
from constructs import Construct

from dashboards.export import dashboards_json
from stack.config import StackConfig
from stack.names import SELECTOR_LABEL, component_labels
from synth.checksum import config_checksum
from synth.http_probe import http_probe
from synth.pod_security import empty_dir, resources, restricted_container, restricted_pod
from synth.singleton import singleton_deployment

GRAFANA = "grafana"
# A high UID like every other pod (the image's own user, 472, could collide with
# a host account); the image runs under any UID, with its writable paths on emptyDirs.
GRAFANA_UID = 10472
PORT_NAME = "http"
ADMIN_USER_KEY = "admin-user"
ADMIN_PASSWORD_KEY = "admin-password"
DASHBOARDS_DIR = "/etc/grafana/dashboards"
PROVISIONING_DIR = "/etc/grafana/provisioning"
ADMIN_DIR = "/etc/grafana/admin"
HEALTH_PATH = "/api/health"
DATASOURCES_MAP = f"{GRAFANA}-datasources"
PROVIDERS_MAP = f"{GRAFANA}-dashboard-providers"
DASHBOARDS_MAP = f"{GRAFANA}-dashboards"


def datasource_provisioning(config: StackConfig) -> dict[str, Any]:
    m = config.monitoring
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": m.datasource_uid,
                "access": "proxy",
                "url": config.prometheus_url,
                "isDefault": True,
                "editable": False,
                # $__rate_interval is built from this: it must equal the scrape interval.
                "jsonData": {"timeInterval": f"{m.scrape_interval_s}s"},
            }
        ],
    }


def dashboard_provisioning(config: StackConfig) -> dict[str, Any]:
    folder = config.app.name
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": folder,
                "folder": folder,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": DASHBOARDS_DIR},
            }
        ],
    }


def _meta(config: StackConfig, name: str) -> k8s.ObjectMeta:
    return k8s.ObjectMeta(name=name, namespace=config.namespace, labels=component_labels(GRAFANA))


def _provisioning(config: StackConfig) -> dict[str, dict[str, str]]:
    """ConfigMap name -> data: the data source, the dashboard provider, the dashboards."""
    datasources = yaml.safe_dump(datasource_provisioning(config), sort_keys=False)
    providers = yaml.safe_dump(dashboard_provisioning(config), sort_keys=False)
    return {
        DATASOURCES_MAP: {"datasources.yaml": datasources},
        PROVIDERS_MAP: {"providers.yaml": providers},
        DASHBOARDS_MAP: dashboards_json(config),
    }


def _env(config: StackConfig) -> list[k8s.EnvVar]:
    env = {
        # Credentials from the mounted Secret's files, never from env values.
        "GF_SECURITY_ADMIN_USER__FILE": f"{ADMIN_DIR}/{ADMIN_USER_KEY}",
        "GF_SECURITY_ADMIN_PASSWORD__FILE": f"{ADMIN_DIR}/{ADMIN_PASSWORD_KEY}",
        "GF_SERVER_HTTP_PORT": str(config.monitoring.grafana_port),
        "GF_PATHS_PROVISIONING": PROVISIONING_DIR,
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
        # Grafana 12 installs its preinstalled plugins at start, which needs the
        # internet; the dashboards here use only core panels.
        "GF_PLUGINS_PREINSTALL_DISABLED": "true",
    }
    return [k8s.EnvVar(name=name, value=value) for name, value in env.items()]


def _container(config: StackConfig) -> k8s.Container:
    m = config.monitoring
    return k8s.Container(
        name=GRAFANA,
        image=m.grafana_image,
        image_pull_policy="IfNotPresent",
        ports=[k8s.ContainerPort(name=PORT_NAME, container_port=m.grafana_port)],
        env=_env(config),
        # First-start database migrations can take minutes: the startup probe holds
        # liveness back for up to 5 min instead of a fixed initial delay.
        startup_probe=http_probe(HEALTH_PATH, port=PORT_NAME, period_s=5, failures=60),
        liveness_probe=http_probe(HEALTH_PATH, port=PORT_NAME, period_s=10),
        readiness_probe=http_probe(HEALTH_PATH, port=PORT_NAME, period_s=5),
        resources=resources(m.grafana_resources),
        security_context=restricted_container(),
        # Read-only root: Grafana writes its SQLite DB, plugins, logs and temp files here.
        volume_mounts=[
            k8s.VolumeMount(name="data", mount_path="/var/lib/grafana"),
            k8s.VolumeMount(name="logs", mount_path="/var/log/grafana"),
            k8s.VolumeMount(name="tmp", mount_path="/tmp"),
            k8s.VolumeMount(name="admin", mount_path=ADMIN_DIR, read_only=True),
            k8s.VolumeMount(
                name="datasources", mount_path=f"{PROVISIONING_DIR}/datasources", read_only=True
            ),
            k8s.VolumeMount(
                name="providers", mount_path=f"{PROVISIONING_DIR}/dashboards", read_only=True
            ),
            k8s.VolumeMount(name="dashboards", mount_path=DASHBOARDS_DIR, read_only=True),
        ],
    )


def _volumes(config: StackConfig) -> list[k8s.Volume]:
    def config_volume(name: str, config_map: str) -> k8s.Volume:
        return k8s.Volume(name=name, config_map=k8s.ConfigMapVolumeSource(name=config_map))

    # optional=False: no Secret, no start, never the default admin/admin.
    # Group-readable: the files belong to the pod's fsGroup.
    admin = k8s.Volume(
        name="admin",
        secret=k8s.SecretVolumeSource(
            secret_name=config.monitoring.grafana_admin_secret,
            optional=False,
            default_mode=0o440,
        ),
    )
    return [
        empty_dir("data", size_limit="1Gi"),
        empty_dir("logs"),
        empty_dir("tmp"),
        admin,
        config_volume("datasources", DATASOURCES_MAP),
        config_volume("providers", PROVIDERS_MAP),
        config_volume("dashboards", DASHBOARDS_MAP),
    ]


def _service(scope: Construct, config: StackConfig) -> None:
    k8s.KubeService(
        scope,
        "service",
        metadata=_meta(config, GRAFANA),
        spec=k8s.ServiceSpec(
            selector={SELECTOR_LABEL: GRAFANA},
            ports=[
                k8s.ServicePort(
                    name=PORT_NAME,
                    port=config.monitoring.grafana_port,
                    target_port=k8s.IntOrString.from_string(PORT_NAME),
                )
            ],
        ),
    )


class GrafanaChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        provisioning = _provisioning(config)
        for construct_name, map_name in (
            ("datasources", DATASOURCES_MAP),
            ("providers", PROVIDERS_MAP),
            ("dashboards", DASHBOARDS_MAP),
        ):
            data = dict(sorted(provisioning[map_name].items()))
            k8s.KubeConfigMap(self, construct_name, metadata=_meta(config, map_name), data=data)
        # File provisioning reads at start: restart on any change.
        texts = [text for data in provisioning.values() for _, text in sorted(data.items())]
        singleton_deployment(
            self,
            metadata=_meta(config, GRAFANA),
            component=GRAFANA,
            pod_annotations=config_checksum(*texts),
            pod_spec=k8s.PodSpec(
                automount_service_account_token=False,
                security_context=restricted_pod(run_as_user=GRAFANA_UID),
                containers=[_container(config)],
                volumes=_volumes(config),
            ),
        )
        _service(self, config)
