"""Flagger's side: the Canary, its MetricTemplates and the flagger-loadtester.

Flagger generates the `<name>`, `<name>-primary` and `<name>-canary` Services,
the TraefikService `<name>` and the primary Deployment/HPA; none are here.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import cdk8s
from cdk8s_plus_33 import k8s
from constructs import Construct

from dashboards.analysis import AnalysisMetric, analysis_metrics
from order_api import telemetry
from stack.config import Resources, StackConfig
from stack.durations import duration
from stack.names import (
    ACCEPTANCE_TEST,
    FLAGGER_API,
    LOAD_TEST,
    LOAD_TEST_START,
    LOADTESTER,
    SELECTOR_LABEL,
    AppNames,
    app_names,
    component_labels,
)
from synth.custom_resource import custom_resource
from synth.http_probe import http_probe
from synth.pod_security import empty_dir, resources, restricted_container, restricted_pod

LOADTESTER_UID = 10001
LOADTESTER_RESOURCES = Resources(
    cpu_request="10m", cpu_limit="1", memory_request="32Mi", memory_limit="256Mi"
)
# The loadtester kills a command after its -timeout; never before the load ends.
LOADTESTER_MIN_TIMEOUT_S = 3600
# Requests the webhooks send: a valid order, as the service's contract defines it.
ACCEPTANCE_ORDER = {"item": "canary-acceptance-test", "quantity": 1}
LOAD_ORDER = {"item": "canary-load-test", "quantity": 1}
LOAD_CONCURRENCY = 2
# Ticks the load must cover besides the weight steps and the failed checks:
# the pre-rollout tick, Promoting and Finalising, and one of margin.
PRE_ROLLOUT_TICKS = 1
PROMOTION_TICKS = 2
MARGIN_TICKS = 1


def _interval(seconds: int) -> str:
    # Flagger's CRD allows only minutes and seconds in a Canary's durations.
    return duration(seconds, units="s")


def load_duration_s(config: StackConfig) -> int:
    """How long one `hey` run lasts: longer than the whole analysis.

    flagger-loadtester runs a `cmd` task in the background and drops a call
    for the same canary and command while that command still runs. The
    pre-rollout `load-test-start` starts the load one tick before the first
    analysis (Flagger queries the metrics right after calling the rollout
    webhooks, so a load started by `load-test` would leave that first window
    empty); every rollout `load-test` call is then a no-op, and one run covers
    every weight step, `threshold` failed ticks (each holds the weight), the
    promotion and a margin: no window of the analysis is ever without load.
    """
    c = config.canary
    ticks = PRE_ROLLOUT_TICKS + len(c.weights) + c.threshold + PROMOTION_TICKS + MARGIN_TICKS
    return ticks * c.interval_s


def loadtester_timeout_s(config: StackConfig) -> int:
    return max(LOADTESTER_MIN_TIMEOUT_S, load_duration_s(config) + config.canary.interval_s)


def _curl_post(url: str, order: dict[str, Any]) -> str:
    return shlex.join(
        [
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
            "-X", "POST", "-H", "Content-Type: application/json",
            "-d", json.dumps(order, separators=(",", ":")), url,
        ]
    )  # fmt: skip


def acceptance_command(config: StackConfig, names: AppNames) -> str:
    """A valid order POSTed straight to Flagger's canary Service must answer 201."""
    canary_url = names.service_url(names.canary_service, port=config.app.service_port)
    return f'test "$({_curl_post(canary_url + telemetry.ORDER_PATH, ACCEPTANCE_ORDER)})" = 201'


def load_command(config: StackConfig) -> str:
    """`hey` through Traefik with the IngressRoute's host: Flagger's built-in
    request-success-rate/duration read Traefik's metrics, which see only this path."""
    c, ing = config.canary, config.ingress
    traefik = f"{ing.traefik_service}.{config.monitoring.traefik_namespace}"
    # With HTTPS the plain route only redirects: load the HTTPS entry point
    # (hey sends the -host as SNI and does not verify the certificate).
    traefik_url = (
        f"https://{traefik}:{ing.traefik_websecure_port}" if ing.tls else f"http://{traefik}"
    )
    # hey's -q is per worker: the total is -q x -c, rounded down to whole rps per worker.
    per_worker_qps = max(1, c.load_rps // LOAD_CONCURRENCY)
    return shlex.join(
        [
            "hey", "-z", duration(load_duration_s(config)), "-q", str(per_worker_qps),
            "-c", str(LOAD_CONCURRENCY), "-m", "POST", "-T", "application/json",
            "-d", json.dumps(LOAD_ORDER, separators=(",", ":")), "-host", ing.host,
            traefik_url + telemetry.ORDER_PATH,
        ]
    )  # fmt: skip


def _webhooks(config: StackConfig, names: AppNames) -> list[dict[str, Any]]:
    loadtester_url = names.service_url(LOADTESTER) + "/"
    # The same command twice: the loadtester keys a running task by canary and
    # command, so the rollout calls are dropped while the pre-rollout run lasts.
    load = {"type": "cmd", "cmd": load_command(config), "logCmdOutput": "true"}

    def hook(name: str, kind: str, timeout: str, metadata: dict[str, str]) -> dict[str, Any]:
        return {"name": name, "type": kind, "url": loadtester_url, "timeout": timeout,
                "metadata": metadata}  # fmt: skip

    events = config.alerts.flagger_event_url
    # Flagger POSTs every event of the rollout (progress, failed checks, rollback) here.
    event = [{"name": EVENT_WEBHOOK, "type": "event", "url": events}] if events else []
    return [
        *event,
        hook(ACCEPTANCE_TEST, "pre-rollout", "30s",
             {"type": "bash", "cmd": acceptance_command(config, names)}),
        hook(LOAD_TEST_START, "pre-rollout", "15s", load),
        hook(LOAD_TEST, "rollout", "15s", load),
    ]  # fmt: skip


def _metric(config: StackConfig, names: AppNames, metric: AnalysisMetric) -> dict[str, Any]:
    window = _interval(config.canary.metric_window_s)
    entry: dict[str, Any] = {"name": metric.name, "interval": window}
    if not metric.builtin:
        entry["templateRef"] = {
            "name": names.metric_template(metric.name),
            "namespace": config.namespace,
        }
    entry["thresholdRange"] = metric.threshold
    return entry


def _steps(config: StackConfig) -> dict[str, Any]:
    c = config.canary
    if c.step_weights:
        return {"stepWeights": list(c.step_weights)}
    return {"maxWeight": c.max_weight, "stepWeight": c.step_weight}


def _ref(obj: cdk8s.ApiObject) -> dict[str, str]:
    return {"apiVersion": obj.api_version, "kind": obj.kind, "name": obj.name}


# Flagger's own severities: `info` gets every event of a rollout, `error` only
# rollbacks and failed checks.
ERROR = "error"
INFO = "info"
EVENT_WEBHOOK = "events"
# The key of alerts.flagger_secret Flagger reads the webhook URL from.
ADDRESS_KEY = "address"


def alert_providers(config: StackConfig, names: AppNames) -> dict[str, dict[str, Any]]:
    """AlertProvider name -> (spec, severity): none when no provider is configured."""
    a = config.alerts
    if not a.flagger_provider:
        return {}

    def spec(channel: str) -> dict[str, Any]:
        body: dict[str, Any] = {"type": a.flagger_provider}
        if channel:
            body["channel"] = channel
        # Flagger reads the webhook URL from the Secret's ADDRESS_KEY.
        body["secretRef"] = {"name": a.flagger_secret}
        return body

    providers = {f"{names.name}-on-call": {"spec": spec(a.flagger_channel), "severity": ERROR}}
    if a.flagger_progress_channel:
        providers[f"{names.name}-progress"] = {
            "spec": spec(a.flagger_progress_channel),
            "severity": INFO,
        }
    return providers


def _alerts(config: StackConfig, names: AppNames) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "severity": provider["severity"],
            "providerRef": {"name": name, "namespace": config.namespace},
        }
        for name, provider in alert_providers(config, names).items()
    ]


def canary_spec(
    config: StackConfig, names: AppNames, *, target: cdk8s.ApiObject, autoscaler: cdk8s.ApiObject
) -> dict[str, Any]:
    c, app = config.canary, config.app
    return {
        "provider": "traefik",
        "targetRef": _ref(target),
        "autoscalerRef": _ref(autoscaler),
        "progressDeadlineSeconds": app.progress_deadline_s,
        "service": {"port": app.service_port, "targetPort": app.container_port},
        "analysis": {
            "interval": _interval(c.interval_s),
            "threshold": c.threshold,
            **_steps(config),
            "metrics": [_metric(config, names, m) for m in analysis_metrics(config)],
            "webhooks": _webhooks(config, names),
            **({"alerts": alerts} if (alerts := _alerts(config, names)) else {}),
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
        for metric in analysis_metrics(config):
            if metric.query is None:
                continue
            custom_resource(
                self,
                f"template-{metric.name}",
                api_version=FLAGGER_API,
                kind="MetricTemplate",
                name=names.metric_template(metric.name),
                namespace=config.namespace,
                labels=component_labels(names.name),
                spec={
                    "provider": {"type": "prometheus", "address": config.prometheus_url},
                    "query": metric.query,
                },
            )
        for name, provider in alert_providers(config, names).items():
            custom_resource(
                self,
                f"alert-provider-{name}",
                api_version=FLAGGER_API,
                kind="AlertProvider",
                name=name,
                namespace=config.namespace,
                labels=component_labels(names.name),
                spec=provider["spec"],
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
                                f"-timeout={duration(loadtester_timeout_s(config))}",
                            ],
                            ports=[k8s.ContainerPort(name="http", container_port=port)],
                            # Tools (hey, curl) write nothing but may read $HOME.
                            env=[k8s.EnvVar(name="HOME", value="/tmp")],
                            liveness_probe=probe,
                            readiness_probe=probe,
                            resources=resources(LOADTESTER_RESOURCES),
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
