"""Prometheus without an operator: RBAC for pod discovery, config, rules, Deployment, Service."""

from __future__ import annotations

import cdk8s
import yaml
from cdk8s_plus_33 import k8s
from constructs import Construct

from dashboards.rules import rules_yaml
from stack.config import StackConfig
from stack.names import SELECTOR_LABEL, component_labels
from stack.scrape import CONFIG_FILE, RULES_DIR, scrape_config
from synth.checksum import config_checksum
from synth.http_probe import http_probe
from synth.pod_security import empty_dir, resources, restricted_container, restricted_pod
from synth.singleton import singleton_deployment

PROMETHEUS = "prometheus"
# The prom/prometheus image runs as nobody.
PROMETHEUS_UID = 65534
PORT_NAME = "http"
CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/prometheus"
CONFIG_MAP = f"{PROMETHEUS}-config"
RULES_MAP = f"{PROMETHEUS}-rules"


def prometheus_yml(config: StackConfig) -> str:
    return yaml.safe_dump(scrape_config(config), sort_keys=False)


def _meta(config: StackConfig, name: str, *, namespaced: bool = True) -> k8s.ObjectMeta:
    namespace = config.namespace if namespaced else None
    return k8s.ObjectMeta(name=name, namespace=namespace, labels=component_labels(PROMETHEUS))


def _rbac(scope: Construct, config: StackConfig) -> None:
    """The one pod that needs an API token: kubernetes_sd lists pods with it.

    Only pods, but cluster-wide: the jobs span the app's, Traefik's and
    Flagger's namespaces.
    """
    k8s.KubeServiceAccount(
        scope,
        "service-account",
        metadata=_meta(config, PROMETHEUS),
        automount_service_account_token=True,
    )
    cluster_role = f"{config.namespace}-{PROMETHEUS}"
    k8s.KubeClusterRole(
        scope,
        "cluster-role",
        metadata=_meta(config, cluster_role, namespaced=False),
        rules=[k8s.PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"])],
    )
    k8s.KubeClusterRoleBinding(
        scope,
        "cluster-role-binding",
        metadata=_meta(config, cluster_role, namespaced=False),
        role_ref=k8s.RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=cluster_role
        ),
        subjects=[k8s.Subject(kind="ServiceAccount", name=PROMETHEUS, namespace=config.namespace)],
    )


def _config_volume(rule_files: list[str]) -> k8s.Volume:
    """One projected volume puts the rules under rules/ next to prometheus.yml,
    where the relative rule_files glob finds them."""
    return k8s.Volume(
        name="config",
        projected=k8s.ProjectedVolumeSource(
            sources=[
                k8s.VolumeProjection(
                    config_map=k8s.ConfigMapProjection(
                        name=CONFIG_MAP, items=[k8s.KeyToPath(key=CONFIG_FILE, path=CONFIG_FILE)]
                    )
                ),
                k8s.VolumeProjection(
                    config_map=k8s.ConfigMapProjection(
                        name=RULES_MAP,
                        items=[
                            k8s.KeyToPath(key=name, path=f"{RULES_DIR}/{name}")
                            for name in rule_files
                        ],
                    )
                ),
            ]
        ),
    )


def _container(config: StackConfig) -> k8s.Container:
    m = config.monitoring
    return k8s.Container(
        name=PROMETHEUS,
        image=m.prometheus_image,
        image_pull_policy="IfNotPresent",
        args=[
            f"--config.file={CONFIG_DIR}/{CONFIG_FILE}",
            f"--storage.tsdb.path={DATA_DIR}",
            f"--storage.tsdb.retention.time={m.retention}",
            f"--storage.tsdb.retention.size={m.retention_size}",
            f"--web.listen-address=:{m.prometheus_port}",
        ],
        ports=[k8s.ContainerPort(name=PORT_NAME, container_port=m.prometheus_port)],
        liveness_probe=http_probe("/-/healthy", port=PORT_NAME, period_s=15),
        readiness_probe=http_probe("/-/ready", port=PORT_NAME, period_s=5),
        resources=resources(m.prometheus_resources),
        security_context=restricted_container(),
        volume_mounts=[
            k8s.VolumeMount(name="config", mount_path=CONFIG_DIR, read_only=True),
            k8s.VolumeMount(name="data", mount_path=DATA_DIR),
        ],
    )


def _service(scope: Construct, config: StackConfig) -> None:
    m = config.monitoring
    k8s.KubeService(
        scope,
        "service",
        metadata=_meta(config, m.prometheus_service),
        spec=k8s.ServiceSpec(
            selector={SELECTOR_LABEL: PROMETHEUS},
            ports=[
                k8s.ServicePort(
                    name=PORT_NAME,
                    port=m.prometheus_port,
                    target_port=k8s.IntOrString.from_string(PORT_NAME),
                )
            ],
        ),
    )


class PrometheusChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        _rbac(self, config)
        config_text = prometheus_yml(config)
        rules = rules_yaml(config)
        k8s.KubeConfigMap(
            self, "config", metadata=_meta(config, CONFIG_MAP), data={CONFIG_FILE: config_text}
        )
        k8s.KubeConfigMap(
            self, "rules", metadata=_meta(config, RULES_MAP), data=dict(sorted(rules.items()))
        )
        singleton_deployment(
            self,
            metadata=_meta(config, PROMETHEUS),
            component=PROMETHEUS,
            pod_annotations=config_checksum(config_text, *sorted(rules.values())),
            pod_spec=k8s.PodSpec(
                service_account_name=PROMETHEUS,
                security_context=restricted_pod(run_as_user=PROMETHEUS_UID),
                containers=[_container(config)],
                volumes=[
                    _config_volume(sorted(rules)),
                    empty_dir("data", size_limit=config.monitoring.storage_size_limit),
                ],
            ),
        )
        _service(self, config)
