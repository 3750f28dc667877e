"""Flagger's side: the Canary, its MetricTemplates and the flagger-loadtester.

Flagger generates the `<name>`, `<name>-primary` and `<name>-canary` Services,
the TraefikService `<name>` and the primary Deployment/HPA; none are here.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

import cdk8s
from cdk8s_plus_33 import k8s
from constructs import Construct

from dashboards import queries
from order_api import telemetry
from stack.config import StackConfig
from stack.names import (
    FLAGGER_API,
    REQUEST_DURATION,
    REQUEST_SUCCESS_RATE,
    SELECTOR_LABEL,
    AppNames,
    app_names,
    component_labels,
)
from synth.custom_resource import custom_resource
from synth.pod_security import empty_dir, resources, restricted_container, restricted_pod
from synth.probes import http_probe

LOADTESTER = "flagger-loadtester"
LOADTESTER_UID = 10001
# Requests the webhooks send: a valid order, as the service's contract defines it.
ACCEPTANCE_ORDER = {"item": "canary-acceptance-test", "quantity": 1}
LOAD_ORDER = {"item": "canary-load-test", "quantity": 1}
LOAD_CONCURRENCY = 2


@dataclass(frozen=True, kw_only=True)
class MetricCheck:
    """One Flagger MetricTemplate and the Canary metric that references it."""

    metric: str
    query: str
    max_value: float


def metric_checks(config: StackConfig) -> list[MetricCheck]:
    """The app's own metrics, gated next to Flagger's built-in Traefik ones."""
    c = config.canary
    return [
        MetricCheck(
            metric="error-rate",
            query=queries.ERROR_RATE_TEMPLATE,
            max_value=c.error_rate_max_percent,
        ),
        MetricCheck(
            metric="latency-p99", query=queries.LATENCY_P99_TEMPLATE, max_value=c.latency_max_ms
        ),
    ]


def template_name(names: AppNames, check: MetricCheck) -> str:
    return f"{names.name}-{check.metric}"


def _seconds(value: int) -> str:
    return f"{value}s"


def _curl_post(url: str, order: dict[str, Any]) -> str:
    return shlex.join(
        [
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
            "-X", "POST", "-H", "Content-Type: application/json",
            "-d", json.dumps(order, separators=(",", ":")), url,
        ]
    )  # fmt: skip


def _webhooks(config: StackConfig, names: AppNames) -> list[dict[str, Any]]:
    c, ing = config.canary, config.ingress
    loadtester_url = names.service_url(LOADTESTER) + "/"
    canary_url = names.service_url(names.canary_service, port=config.app.service_port)
    acceptance = (
        f'test "$({_curl_post(canary_url + telemetry.ORDER_PATH, ACCEPTANCE_ORDER)})" = 201'
    )
    # Through Traefik with the IngressRoute's host: Flagger's built-in
    # request-success-rate/duration read Traefik's metrics, which only see this path.
    traefik_url = f"http://{ing.traefik_service}.{config.monitoring.traefik_namespace}"
    # hey's -q is per worker: the total is -q x -c, rounded down to whole rps per worker.
    per_worker_qps = max(1, c.load_rps // LOAD_CONCURRENCY)
    load = shlex.join(
        [
            "hey", "-z", _seconds(c.interval_s), "-q", str(per_worker_qps),
            "-c", str(LOAD_CONCURRENCY), "-m", "POST", "-T", "application/json",
            "-d", json.dumps(LOAD_ORDER, separators=(",", ":")), "-host", ing.host,
            traefik_url + telemetry.ORDER_PATH,
        ]
    )  # fmt: skip
    return [
        {
            "name": "acceptance-test",
            "type": "pre-rollout",
            "url": loadtester_url,
            "timeout": "30s",
            "metadata": {"type": "bash", "cmd": acceptance},
        },
        {
            "name": "load-test",
            "type": "rollout",
            "url": loadtester_url,
            "timeout": "15s",
            "metadata": {"type": "cmd", "cmd": load, "logCmdOutput": "true"},
        },
    ]


def canary_spec(
    config: StackConfig, names: AppNames, *, target: cdk8s.ApiObject, autoscaler: cdk8s.ApiObject
) -> dict[str, Any]:
    c, app = config.canary, config.app
    window = _seconds(c.metric_window_s)
    metrics: list[dict[str, Any]] = [
        # Flagger's built-ins for provider traefik (from traefik_service_* metrics).
        {
            "name": REQUEST_SUCCESS_RATE,
            "interval": window,
            "thresholdRange": {"min": c.success_rate_min_percent},
        },
        {
            "name": REQUEST_DURATION,
            "interval": window,
            "thresholdRange": {"max": c.latency_max_ms},
        },
    ]
    metrics += [
        {
            "name": check.metric,
            "interval": window,
            "templateRef": {"name": template_name(names, check), "namespace": config.namespace},
            "thresholdRange": {"max": check.max_value},
        }
        for check in metric_checks(config)
    ]
    return {
        "provider": "traefik",
        "targetRef": {"apiVersion": target.api_version, "kind": target.kind, "name": target.name},
        "autoscalerRef": {
            "apiVersion": autoscaler.api_version,
            "kind": autoscaler.kind,
            "name": autoscaler.name,
        },
        "progressDeadlineSeconds": app.progress_deadline_s,
        "service": {"port": app.service_port, "targetPort": app.container_port},
        "analysis": {
            "interval": _seconds(c.interval_s),
            "threshold": c.threshold,
            "maxWeight": c.max_weight,
            "stepWeight": c.step_weight,
            "metrics": metrics,
            "webhooks": _webhooks(config, names),
        },
    }


class CanaryChart(cdk8s.Chart):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        target: cdk8s.ApiObject,
        autoscaler: cdk8s.ApiObject,
    ) -> None:
        super().__init__(scope, construct_id)
        names = app_names(config)
        for check in metric_checks(config):
            custom_resource(
                self,
                f"template-{check.metric}",
                api_version=FLAGGER_API,
                kind="MetricTemplate",
                name=template_name(names, check),
                namespace=config.namespace,
                labels=component_labels(names.name),
                spec={
                    "provider": {"type": "prometheus", "address": config.prometheus_url},
                    "query": check.query,
                },
            )
        custom_resource(
            self,
            "canary",
            api_version=FLAGGER_API,
            kind="Canary",
            name=names.name,
            namespace=config.namespace,
            labels=component_labels(names.name),
            spec=canary_spec(config, names, target=target, autoscaler=autoscaler),
        )
        _loadtester(self, config)


def _loadtester(scope: Construct, config: StackConfig) -> None:
    """Flagger's webhook runner (upstream image), hardened for the restricted PSS."""
    port = config.canary.loadtester_port
    labels = component_labels(LOADTESTER)
    selector = {SELECTOR_LABEL: LOADTESTER}
    meta = k8s.ObjectMeta(name=LOADTESTER, namespace=config.namespace, labels=labels)
    probe = http_probe("/healthz", port=port, period_s=10)
    k8s.KubeDeployment(
        scope,
        "loadtester",
        metadata=meta,
        spec=k8s.DeploymentSpec(
            replicas=1,
            selector=k8s.LabelSelector(match_labels=selector),
            template=k8s.PodTemplateSpec(
                metadata=k8s.ObjectMeta(labels={**labels, **selector}),
                spec=k8s.PodSpec(
                    automount_service_account_token=False,
                    security_context=restricted_pod(run_as_user=LOADTESTER_UID),
                    containers=[
                        k8s.Container(
                            name=LOADTESTER,
                            image=config.canary.loadtester_image,
                            image_pull_policy="IfNotPresent",
                            command=[
                                "./loadtester",
                                f"-port={port}",
                                "-log-level=info",
                                "-timeout=1h",
                            ],
                            ports=[k8s.ContainerPort(name="http", container_port=port)],
                            # Tools (hey, curl) write nothing but may read $HOME.
                            env=[k8s.EnvVar(name="HOME", value="/tmp")],
                            liveness_probe=probe,
                            readiness_probe=probe,
                            resources=resources(
                                cpu_request="10m",
                                cpu_limit="1",
                                memory_request="32Mi",
                                memory_limit="256Mi",
                            ),
                            security_context=restricted_container(),
                            volume_mounts=[k8s.VolumeMount(name="tmp", mount_path="/tmp")],
                        )
                    ],
                    volumes=[empty_dir("tmp")],
                ),
            ),
        ),
    )
    k8s.KubeService(
        scope,
        "loadtester-service",
        metadata=meta,
        spec=k8s.ServiceSpec(
            selector=selector,
            ports=[
                k8s.ServicePort(
                    name="http", port=80, target_port=k8s.IntOrString.from_string("http")
                )
            ],
        ),
    )
