"""The order-api workload: ServiceAccount, Deployment, HPA and PDB.

Flagger takes this Deployment as the canary target: it copies it to
`<name>-primary`, scales this one to zero between releases and creates the
Services itself, so none of those are synthesized here.
"""

from __future__ import annotations

import cdk8s
from cdk8s_plus_33 import k8s
from constructs import Construct

from order_api import settings, telemetry
from stack.config import AppConfig, StackConfig
from stack.names import SELECTOR_LABEL, AppNames, app_names, component_labels
from stack.scrape import scrape_annotations
from synth.http_probe import http_probe
from synth.pod_security import empty_dir, resources, restricted_container, restricted_pod

# The image's numeric non-root user (service/Dockerfile).
APP_UID = 10001
PORT_NAME = "http"


def _env(config: StackConfig) -> list[k8s.EnvVar]:
    app = config.app
    env = {
        settings.ENV_VERSION: app.image_tag,
        settings.ENV_SHUTDOWN_DELAY_S: str(app.shutdown_delay_s),
        settings.ENV_DRAIN_TIMEOUT_S: str(app.drain_timeout_s),
    }
    # Only when set, so a healthy release carries no fault variables at all.
    if app.fault_error_rate:
        env[settings.ENV_FAULT_ERROR_RATE] = str(app.fault_error_rate)
    if app.fault_delay_ms:
        env[settings.ENV_FAULT_DELAY_MS] = str(app.fault_delay_ms)
    return [k8s.EnvVar(name=name, value=value) for name, value in env.items()]


def _args(config: StackConfig) -> list[str]:
    """Host and port passed explicitly: the image's CMD defaults to port 8080,
    which would ignore `app.container_port`."""
    return ["--host", "0.0.0.0", "--port", str(config.app.container_port)]


def _container(config: StackConfig) -> k8s.Container:
    app = config.app
    return k8s.Container(
        name=app.name,
        image=app.image,
        image_pull_policy="IfNotPresent",
        args=_args(config),
        ports=[k8s.ContainerPort(name=PORT_NAME, container_port=app.container_port)],
        env=_env(config),
        # Liveness only restarts a wedged process; readiness goes 503 at SIGTERM
        # and is what takes a pod out of the router quickly.
        liveness_probe=http_probe(
            telemetry.HEALTH_PATH, port=app.container_port, period_s=10, timeout_s=2, failures=3
        ),
        readiness_probe=http_probe(
            telemetry.READY_PATH, port=app.container_port, period_s=2, timeout_s=2, failures=2
        ),
        resources=resources(app.resources),
        security_context=restricted_container(),
        volume_mounts=[k8s.VolumeMount(name="tmp", mount_path="/tmp")],
    )


def _pod_spec(config: StackConfig, names: AppNames) -> k8s.PodSpec:
    app = config.app
    return k8s.PodSpec(
        service_account_name=app.name,
        automount_service_account_token=False,
        # Readiness delay + drain + margin, so SIGKILL never cuts a request.
        termination_grace_period_seconds=app.termination_grace_s,
        security_context=restricted_pod(run_as_user=APP_UID),
        # Spread replicas over nodes so one node loss leaves capacity;
        # ScheduleAnyway: a preference, never a reason to stay Pending.
        topology_spread_constraints=[
            k8s.TopologySpreadConstraint(
                max_skew=1,
                topology_key="kubernetes.io/hostname",
                when_unsatisfiable="ScheduleAnyway",
                label_selector=k8s.LabelSelector(match_labels=names.selector),
            )
        ],
        containers=[_container(config)],
        volumes=[empty_dir("tmp")],
        # None, not [], when unset: the defaults' dist/ carries no empty list.
        image_pull_secrets=[k8s.LocalObjectReference(name=s) for s in app.image_pull_secrets]
        or None,
    )


def _deployment_spec(config: StackConfig, names: AppNames) -> k8s.DeploymentSpec:
    return k8s.DeploymentSpec(
        # No `replicas`: the HPA owns the count, and an apply must not reset it.
        selector=k8s.LabelSelector(match_labels=names.selector),
        progress_deadline_seconds=config.app.progress_deadline_s,
        strategy=k8s.DeploymentStrategy(
            type="RollingUpdate",
            rolling_update=k8s.RollingUpdateDeployment(
                max_unavailable=k8s.IntOrString.from_number(0),
                max_surge=k8s.IntOrString.from_number(1),
            ),
        ),
        template=k8s.PodTemplateSpec(
            metadata=k8s.ObjectMeta(
                labels={**component_labels(names.name), **names.selector},
                annotations=scrape_annotations(config),
            ),
            spec=_pod_spec(config, names),
        ),
    )


# The HPA's own scale-down stabilization window when `behavior` is absent.
DEFAULT_SCALE_DOWN_STABILIZATION_S = 300


def _hpa_behavior(app: AppConfig) -> k8s.HorizontalPodAutoscalerBehaviorV2 | None:
    if app.scale_down_stabilization_s == DEFAULT_SCALE_DOWN_STABILIZATION_S:
        return None
    return k8s.HorizontalPodAutoscalerBehaviorV2(
        scale_down=k8s.HpaScalingRulesV2(
            stabilization_window_seconds=app.scale_down_stabilization_s
        )
    )


def _hpa_spec(config: StackConfig, target: k8s.KubeDeployment) -> k8s.HorizontalPodAutoscalerSpecV2:
    app = config.app
    return k8s.HorizontalPodAutoscalerSpecV2(
        behavior=_hpa_behavior(app),
        scale_target_ref=k8s.CrossVersionObjectReferenceV2(
            api_version=target.api_version, kind=target.kind, name=target.name
        ),
        min_replicas=app.min_replicas,
        max_replicas=app.max_replicas,
        metrics=[
            k8s.MetricSpecV2(
                type="Resource",
                resource=k8s.ResourceMetricSourceV2(
                    name="cpu",
                    target=k8s.MetricTargetV2(
                        type="Utilization", average_utilization=app.cpu_target_percent
                    ),
                ),
            )
        ],
    )


def _pdb_spec(names: AppNames) -> k8s.PodDisruptionBudgetSpec:
    # One budget over primary and canary pods: Flagger gives no PDB to the
    # primary, whose pods carry app=<name>-primary.
    return k8s.PodDisruptionBudgetSpec(
        max_unavailable=k8s.IntOrString.from_number(1),
        selector=k8s.LabelSelector(
            match_expressions=[
                k8s.LabelSelectorRequirement(
                    key=SELECTOR_LABEL, operator="In", values=names.all_tracks
                )
            ]
        ),
    )


class OrderApiChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        names = app_names(config)
        meta = k8s.ObjectMeta(
            name=names.name, namespace=config.namespace, labels=component_labels(names.name)
        )
        k8s.KubeServiceAccount(
            self, "service-account", metadata=meta, automount_service_account_token=False
        )
        self.deployment = k8s.KubeDeployment(
            self, "deployment", metadata=meta, spec=_deployment_spec(config, names)
        )
        self.hpa = k8s.KubeHorizontalPodAutoscalerV2(
            self, "hpa", metadata=meta, spec=_hpa_spec(config, self.deployment)
        )
        k8s.KubePodDisruptionBudget(self, "pdb", metadata=meta, spec=_pdb_spec(names))
