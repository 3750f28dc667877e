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

from dashboards.build import dashboards_json
from stack.config import StackConfig
from stack.names import SELECTOR_LABEL, component_labels
from synth.checksum import config_checksum
from synth.pod_security import empty_dir, resources, restricted_container, restricted_pod
from synth.probes import http_probe
from synth.singleton import singleton_deployment

GRAFANA = "grafana"
# The grafana/grafana image's user.
GRAFANA_UID = 472
PORT_NAME = "http"
ADMIN_USER_KEY = "admin-user"
ADMIN_PASSWORD_KEY = "admin-password"
DASHBOARDS_DIR = "/etc/grafana/dashboards"
PROVISIONING_DIR = "/etc/grafana/provisioning"


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


def _config_map(
    scope: Construct, construct_id: str, *, meta: k8s.ObjectMeta, data: dict[str, str]
) -> None:
    k8s.KubeConfigMap(scope, construct_id, metadata=meta, data=dict(sorted(data.items())))


class GrafanaChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        m = config.monitoring
        labels = component_labels(GRAFANA)
        selector = {SELECTOR_LABEL: GRAFANA}

        def meta(name: str) -> k8s.ObjectMeta:
            return k8s.ObjectMeta(name=name, namespace=config.namespace, labels=labels)

        datasources = yaml.safe_dump(datasource_provisioning(config), sort_keys=False)
        providers = yaml.safe_dump(dashboard_provisioning(config), sort_keys=False)
        dashboards = dashboards_json(config)
        _config_map(self, "datasources", meta=meta(f"{GRAFANA}-datasources"),
                    data={"datasources.yaml": datasources})  # fmt: skip
        _config_map(self, "providers", meta=meta(f"{GRAFANA}-dashboard-providers"),
                    data={"providers.yaml": providers})  # fmt: skip
        _config_map(self, "dashboards", meta=meta(f"{GRAFANA}-dashboards"), data=dashboards)

        def secret_env(name: str, key: str) -> k8s.EnvVar:
            # optional=False: no Secret, no start, never the default admin/admin.
            return k8s.EnvVar(
                name=name,
                value_from=k8s.EnvVarSource(
                    secret_key_ref=k8s.SecretKeySelector(
                        name=m.grafana_admin_secret, key=key, optional=False
                    )
                ),
            )

        container = k8s.Container(
            name=GRAFANA,
            image=m.grafana_image,
            image_pull_policy="IfNotPresent",
            ports=[k8s.ContainerPort(name=PORT_NAME, container_port=m.grafana_port)],
            env=[
                secret_env("GF_SECURITY_ADMIN_USER", ADMIN_USER_KEY),
                secret_env("GF_SECURITY_ADMIN_PASSWORD", ADMIN_PASSWORD_KEY),
                k8s.EnvVar(name="GF_SERVER_HTTP_PORT", value=str(m.grafana_port)),
                k8s.EnvVar(name="GF_PATHS_PROVISIONING", value=PROVISIONING_DIR),
                k8s.EnvVar(name="GF_USERS_ALLOW_SIGN_UP", value="false"),
                k8s.EnvVar(name="GF_AUTH_ANONYMOUS_ENABLED", value="false"),
                k8s.EnvVar(name="GF_ANALYTICS_REPORTING_ENABLED", value="false"),
                k8s.EnvVar(name="GF_ANALYTICS_CHECK_FOR_UPDATES", value="false"),
                k8s.EnvVar(name="GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", value="false"),
            ],
            liveness_probe=http_probe(
                "/api/health", port=PORT_NAME, period_s=10, initial_delay_s=30
            ),
            readiness_probe=http_probe("/api/health", port=PORT_NAME, period_s=5),
            resources=resources(
                cpu_request=m.grafana_cpu_request,
                cpu_limit=m.grafana_cpu_limit,
                memory_request=m.grafana_memory_request,
                memory_limit=m.grafana_memory_limit,
            ),
            security_context=restricted_container(),
            # Read-only root: Grafana writes its SQLite DB, plugins, logs and temp files here.
            volume_mounts=[
                k8s.VolumeMount(name="data", mount_path="/var/lib/grafana"),
                k8s.VolumeMount(name="logs", mount_path="/var/log/grafana"),
                k8s.VolumeMount(name="tmp", mount_path="/tmp"),
                k8s.VolumeMount(
                    name="datasources",
                    mount_path=f"{PROVISIONING_DIR}/datasources",
                    read_only=True,
                ),
                k8s.VolumeMount(
                    name="providers", mount_path=f"{PROVISIONING_DIR}/dashboards", read_only=True
                ),
                k8s.VolumeMount(name="dashboards", mount_path=DASHBOARDS_DIR, read_only=True),
            ],
        )

        def config_volume(name: str, config_map: str) -> k8s.Volume:
            return k8s.Volume(name=name, config_map=k8s.ConfigMapVolumeSource(name=config_map))

        singleton_deployment(
            self,
            metadata=meta(GRAFANA),
            component=GRAFANA,
            # File provisioning reads at start: restart on any change.
            pod_annotations=config_checksum(
                datasources, providers, *(dashboards[k] for k in sorted(dashboards))
            ),
            pod_spec=k8s.PodSpec(
                automount_service_account_token=False,
                security_context=restricted_pod(run_as_user=GRAFANA_UID),
                containers=[container],
                volumes=[
                    empty_dir("data", size_limit="1Gi"),
                    empty_dir("logs"),
                    empty_dir("tmp"),
                    config_volume("datasources", f"{GRAFANA}-datasources"),
                    config_volume("providers", f"{GRAFANA}-dashboard-providers"),
                    config_volume("dashboards", f"{GRAFANA}-dashboards"),
                ],
            ),
        )
        k8s.KubeService(
            self,
            "service",
            metadata=meta(GRAFANA),
            spec=k8s.ServiceSpec(
                selector=selector,
                ports=[
                    k8s.ServicePort(
                        name=PORT_NAME,
                        port=m.grafana_port,
                        target_port=k8s.IntOrString.from_string(PORT_NAME),
                    )
                ],
            ),
        )
