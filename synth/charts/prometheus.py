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
from synth.pod_security import empty_dir, resources, restricted_container, restricted_pod
from synth.probes import http_probe
from synth.singleton import singleton_deployment

PROMETHEUS = "prometheus"
# The prom/prometheus image runs as nobody.
PROMETHEUS_UID = 65534
PORT_NAME = "http"
CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/prometheus"


def prometheus_yml(config: StackConfig) -> str:
    return yaml.safe_dump(scrape_config(config), sort_keys=False)


class PrometheusChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        m = config.monitoring
        labels = component_labels(PROMETHEUS)
        selector = {SELECTOR_LABEL: PROMETHEUS}

        def meta(name: str, namespaced: bool = True) -> k8s.ObjectMeta:
            ns = config.namespace if namespaced else None
            return k8s.ObjectMeta(name=name, namespace=ns, labels=labels)

        # The one pod that needs an API token: kubernetes_sd lists pods with it.
        k8s.KubeServiceAccount(
            self, "service-account", metadata=meta(PROMETHEUS), automount_service_account_token=True
        )
        # kubernetes_sd role=pod needs only pods; cluster-wide because the jobs
        # span the app's, Traefik's and Flagger's namespaces.
        cluster_role_name = f"{config.namespace}-{PROMETHEUS}"
        k8s.KubeClusterRole(
            self,
            "cluster-role",
            metadata=meta(cluster_role_name, namespaced=False),
            rules=[
                k8s.PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"])
            ],
        )
        k8s.KubeClusterRoleBinding(
            self,
            "cluster-role-binding",
            metadata=meta(cluster_role_name, namespaced=False),
            role_ref=k8s.RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=cluster_role_name
            ),
            subjects=[
                k8s.Subject(kind="ServiceAccount", name=PROMETHEUS, namespace=config.namespace)
            ],
        )

        config_text = prometheus_yml(config)
        rules = rules_yaml(config)
        config_map = f"{PROMETHEUS}-config"
        rules_map = f"{PROMETHEUS}-rules"
        k8s.KubeConfigMap(
            self, "config", metadata=meta(config_map), data={CONFIG_FILE: config_text}
        )
        k8s.KubeConfigMap(self, "rules", metadata=meta(rules_map), data=dict(sorted(rules.items())))

        # One projected volume puts the rules under rules/ next to prometheus.yml,
        # where the relative rule_files glob finds them.
        config_volume = k8s.Volume(
            name="config",
            projected=k8s.ProjectedVolumeSource(
                sources=[
                    k8s.VolumeProjection(
                        config_map=k8s.ConfigMapProjection(
                            name=config_map,
                            items=[k8s.KeyToPath(key=CONFIG_FILE, path=CONFIG_FILE)],
                        )
                    ),
                    k8s.VolumeProjection(
                        config_map=k8s.ConfigMapProjection(
                            name=rules_map,
                            items=[
                                k8s.KeyToPath(key=name, path=f"{RULES_DIR}/{name}")
                                for name in sorted(rules)
                            ],
                        )
                    ),
                ]
            ),
        )
        port = m.prometheus_port
        container = k8s.Container(
            name=PROMETHEUS,
            image=m.prometheus_image,
            image_pull_policy="IfNotPresent",
            args=[
                f"--config.file={CONFIG_DIR}/{CONFIG_FILE}",
                f"--storage.tsdb.path={DATA_DIR}",
                f"--storage.tsdb.retention.time={m.retention}",
                f"--storage.tsdb.retention.size={m.retention_size}",
                f"--web.listen-address=:{port}",
            ],
            ports=[k8s.ContainerPort(name=PORT_NAME, container_port=port)],
            liveness_probe=http_probe("/-/healthy", port=PORT_NAME, period_s=15),
            readiness_probe=http_probe("/-/ready", port=PORT_NAME, period_s=5),
            resources=resources(
                cpu_request=m.prometheus_cpu_request,
                cpu_limit=m.prometheus_cpu_limit,
                memory_request=m.prometheus_memory_request,
                memory_limit=m.prometheus_memory_limit,
            ),
            security_context=restricted_container(),
            volume_mounts=[
                k8s.VolumeMount(name="config", mount_path=CONFIG_DIR, read_only=True),
                k8s.VolumeMount(name="data", mount_path=DATA_DIR),
            ],
        )
        singleton_deployment(
            self,
            metadata=meta(PROMETHEUS),
            component=PROMETHEUS,
            pod_annotations=config_checksum(config_text, *sorted(rules.values())),
            pod_spec=k8s.PodSpec(
                service_account_name=PROMETHEUS,
                security_context=restricted_pod(run_as_user=PROMETHEUS_UID),
                containers=[container],
                volumes=[
                    config_volume,
                    empty_dir("data", size_limit=m.storage_size_limit),
                ],
            ),
        )
        k8s.KubeService(
            self,
            "service",
            metadata=meta(m.prometheus_service),
            spec=k8s.ServiceSpec(
                selector=selector,
                ports=[
                    k8s.ServicePort(
                        name=PORT_NAME,
                        port=port,
                        target_port=k8s.IntOrString.from_string(PORT_NAME),
                    )
                ],
            ),
        )
