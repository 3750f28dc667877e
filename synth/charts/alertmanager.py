"""Alertmanager: ConfigMap, Deployment, Service; Prometheus' alerting block points here.

One replica without its gossip cluster: the state it keeps (silences,
notification log) lives on an emptyDir, like Prometheus' TSDB. The receiver's
secrets come from a Secret the user creates; it is mounted optional, so
Alertmanager runs (and shows alerts) before it exists.
"""

from __future__ import annotations

import cdk8s
from cdk8s_plus_33 import k8s
from constructs import Construct

from dashboards.alert_routing import CONFIG_FILE, SECRETS_DIR, alertmanager_yml
from stack.config import StackConfig
from stack.names import SELECTOR_LABEL, component_labels
from synth.checksum import config_checksum
from synth.http_probe import http_probe
from synth.pod_security import empty_dir, resources, restricted_container, restricted_pod
from synth.singleton import singleton_deployment

ALERTMANAGER = "alertmanager"
# The prom/alertmanager image runs as nobody.
ALERTMANAGER_UID = 65534
PORT_NAME = "http"
CONFIG_DIR = "/etc/alertmanager/config"
DATA_DIR = "/alertmanager"
CONFIG_MAP = f"{ALERTMANAGER}-config"


def _meta(config: StackConfig, name: str) -> k8s.ObjectMeta:
    return k8s.ObjectMeta(
        name=name, namespace=config.namespace, labels=component_labels(ALERTMANAGER)
    )


def _container(config: StackConfig) -> k8s.Container:
    a = config.alerts
    return k8s.Container(
        name=ALERTMANAGER,
        image=a.alertmanager_image,
        image_pull_policy="IfNotPresent",
        args=[
            f"--config.file={CONFIG_DIR}/{CONFIG_FILE}",
            f"--storage.path={DATA_DIR}",
            f"--web.listen-address=:{a.alertmanager_port}",
            # An empty address turns the HA gossip off: one replica, no peers.
            "--cluster.listen-address=",
        ],
        ports=[k8s.ContainerPort(name=PORT_NAME, container_port=a.alertmanager_port)],
        liveness_probe=http_probe("/-/healthy", port=PORT_NAME, period_s=15),
        readiness_probe=http_probe("/-/ready", port=PORT_NAME, period_s=5),
        resources=resources(a.alertmanager_resources),
        security_context=restricted_container(),
        volume_mounts=[
            k8s.VolumeMount(name="config", mount_path=CONFIG_DIR, read_only=True),
            k8s.VolumeMount(name="secrets", mount_path=SECRETS_DIR, read_only=True),
            k8s.VolumeMount(name="data", mount_path=DATA_DIR),
        ],
    )


def _service(scope: Construct, config: StackConfig) -> None:
    a = config.alerts
    k8s.KubeService(
        scope,
        "service",
        metadata=_meta(config, a.alertmanager_service),
        spec=k8s.ServiceSpec(
            selector={SELECTOR_LABEL: ALERTMANAGER},
            ports=[
                k8s.ServicePort(
                    name=PORT_NAME,
                    port=a.alertmanager_port,
                    target_port=k8s.IntOrString.from_string(PORT_NAME),
                )
            ],
        ),
    )


class AlertmanagerChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        text = alertmanager_yml(config)
        k8s.KubeConfigMap(
            self, "config", metadata=_meta(config, CONFIG_MAP), data={CONFIG_FILE: text}
        )
        singleton_deployment(
            self,
            metadata=_meta(config, ALERTMANAGER),
            component=ALERTMANAGER,
            pod_annotations=config_checksum(text),
            pod_spec=k8s.PodSpec(
                automount_service_account_token=False,
                security_context=restricted_pod(run_as_user=ALERTMANAGER_UID),
                containers=[_container(config)],
                volumes=[
                    k8s.Volume(
                        name="config", config_map=k8s.ConfigMapVolumeSource(name=CONFIG_MAP)
                    ),
                    k8s.Volume(
                        name="secrets",
                        secret=k8s.SecretVolumeSource(
                            secret_name=config.alerts.receiver_secret, optional=True
                        ),
                    ),
                    empty_dir("data"),
                ],
            ),
        )
        _service(self, config)
