"""The one typed configuration of the stack.

synth, dashboards, rules and the rehearsal all read `load_config()`; nothing
else hard-codes a namespace, name, port, image or canary setting.

Overrides need no code change, applied in this order:
1. the defaults below;
2. a YAML values file named by ``ORDER_API_SRE_VALUES`` (nested like the
   dataclasses: ``canary: {step_weight: 20}``);
3. environment variables ``ORDER_API_SRE_<SECTION>__<FIELD>``, for example
   ``ORDER_API_SRE_APP__IMAGE_TAG=1.1.0`` or ``ORDER_API_SRE_CANARY__MAX_WEIGHT=30``.
A bad value stops with a ConfigError naming the field and its source.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

ENV_PREFIX = "ORDER_API_SRE_"
VALUES_ENV = ENV_PREFIX + "VALUES"

# Same prefix, not stack settings. The prefix is stack's, so stack keeps the
# list; the packages that own the other variables sit above it and are not
# imported (tests/stack checks their constants against this list).
NON_SETTING_ENV = frozenset(
    {
        VALUES_ENV,  # the values file, read below
        ENV_PREFIX + "CACHE",  # toolchain.cache.CACHE_ENV: where the toolchain is built
        ENV_PREFIX + "CLUSTER_DIR",  # cluster.layout.RUN_DIR_ENV: the local cluster's state
    }
)


# Traefik's request-duration buckets (seconds), finer than its default
# (0.1, 0.3, 1.2, 5) so the 500 ms canary gate falls on a bucket edge. The
# default of `ingress.traefik_latency_buckets`; the README's helm values and
# the rehearsal's Traefik both use these.
TRAEFIK_LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


# monitoring.mode values.
BUNDLED = "bundled"
PROMETHEUS_OPERATOR = "prometheus-operator"
# Flagger's totalWeight: canary plus primary.
TOTAL_WEIGHT = 100


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


@dataclass(frozen=True, kw_only=True)
class Resources:
    """A container's requests and limits, as Kubernetes quantities ("100m", "256Mi")."""

    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """The order-api workload."""

    name: str = "order-api"
    # The image is `<image_registry>/<image_repository>:<image_tag>`; an empty
    # registry leaves the reference as `<repository>:<tag>`.
    image_registry: str = ""
    image_repository: str = "order-api"
    image_tag: str = "1.0.0"
    # Secrets (type kubernetes.io/dockerconfigjson) the pods pull the image with.
    image_pull_secrets: tuple[str, ...] = ()
    container_port: int = 8080
    service_port: int = 80
    resources: Resources = field(
        default_factory=lambda: Resources(
            cpu_request="100m", cpu_limit="500m", memory_request="128Mi", memory_limit="256Mi"
        )
    )
    min_replicas: int = 2
    max_replicas: int = 6
    cpu_target_percent: int = 70
    # Seconds the HPA waits on lower recommendations before scaling in;
    # Kubernetes' default (300) leaves `behavior` out of the HPA.
    scale_down_stabilization_s: int = 300
    # Readiness goes 503 at SIGTERM; the pod keeps serving this long so the
    # router stops sending traffic, then drains.
    shutdown_delay_s: int = 5
    drain_timeout_s: int = 15
    progress_deadline_s: int = 120
    # Fault injection for canary demos (off by default): a release synthesized
    # with these set is one Flagger must roll back.
    fault_error_rate: float = 0.0
    fault_delay_ms: int = 0

    @property
    def image(self) -> str:
        registry = f"{self.image_registry}/" if self.image_registry else ""
        return f"{registry}{self.image_repository}:{self.image_tag}"

    @property
    def termination_grace_s(self) -> int:
        return self.shutdown_delay_s + self.drain_timeout_s + 10


@dataclass(frozen=True, kw_only=True)
class IngressConfig:
    """How traffic reaches the app through Traefik."""

    host: str = "order-api.example.com"
    entry_point: str = "web"
    # Rate limit in front of the API (requests per second per client IP).
    rate_limit_average: int = 100
    rate_limit_burst: int = 200
    retry_attempts: int = 2
    # The Traefik helm release's Service in monitoring.traefik_namespace; the
    # canary load test enters through it so Traefik's metrics see the traffic.
    traefik_service: str = "traefik"
    # The request-duration buckets (s) of the Traefik that serves the traffic;
    # the latency gate must be one of them.
    traefik_latency_buckets: tuple[float, ...] = TRAEFIK_LATENCY_BUCKETS
    # k3s: synthesize the HelmChartConfig that gives kube-system's bundled
    # Traefik these buckets and per-service metrics (no second Traefik).
    k3s_traefik_config: bool = False
    # HTTPS (off by default): "" (HTTP only), "secret" (a TLS Secret you
    # create, named tls_secret) or "cert-manager" (a Certificate from
    # tls_issuer writes that Secret). HTTP requests are then redirected.
    tls: str = ""
    tls_entry_point: str = "websecure"
    tls_secret: str = "order-api-tls"
    tls_issuer: str = ""
    tls_issuer_kind: str = "ClusterIssuer"
    # The Traefik Service's HTTPS port: the canary load test enters there.
    traefik_websecure_port: int = 443


@dataclass(frozen=True, kw_only=True)
class CanaryConfig:
    """Flagger analysis settings (Flagger's own names, in seconds and percent)."""

    interval_s: int = 60
    threshold: int = 5
    max_weight: int = 50
    step_weight: int = 10
    # Flagger's `stepWeights` (e.g. [5, 10, 25, 50]): when set, they replace
    # step_weight/max_weight and the last one is the max weight.
    step_weights: tuple[int, ...] = ()
    # Each metric window must cover at least two scrapes.
    metric_window_s: int = 60
    success_rate_min_percent: float = 99.0
    latency_max_ms: int = 500
    error_rate_max_percent: float = 1.0
    loadtester_image: str = "ghcr.io/fluxcd/flagger-loadtester:0.38.0"
    # The port the loadtester image listens on (its -port flag).
    loadtester_port: int = 8080
    load_rps: int = 10

    @property
    def weights(self) -> tuple[int, ...]:
        """The canary weight at each analysis step, in Flagger's order."""
        if self.step_weights:
            return self.step_weights
        # Flagger advances while the weight is below maxWeight and caps only at
        # 100: maxWeight 55 with stepWeight 20 runs 20, 40, 60 (not 55).
        steps = -(-self.max_weight // self.step_weight)
        return tuple(min(TOTAL_WEIGHT, n * self.step_weight) for n in range(1, steps + 1))

    @property
    def effective_max_weight(self) -> int:
        return self.weights[-1]


@dataclass(frozen=True, kw_only=True)
class MonitoringConfig:
    """Prometheus and Grafana."""

    prometheus_image: str = "prom/prometheus:v3.7.3"
    prometheus_service: str = "prometheus-service"
    prometheus_port: int = 9090
    scrape_interval_s: int = 15
    retention: str = "2d"
    # The TSDB lives on an emptyDir: cap it below the volume's size limit.
    retention_size: str = "3GB"
    storage_size_limit: str = "4Gi"
    prometheus_resources: Resources = field(
        default_factory=lambda: Resources(
            cpu_request="200m", cpu_limit="1", memory_request="512Mi", memory_limit="1Gi"
        )
    )
    grafana_image: str = "grafana/grafana:12.2.1"
    grafana_port: int = 3000
    # Grafana 12 needs more than 256Mi at start (migrations, plugin loading).
    grafana_resources: Resources = field(
        default_factory=lambda: Resources(
            cpu_request="100m", cpu_limit="500m", memory_request="256Mi", memory_limit="512Mi"
        )
    )
    grafana_admin_secret: str = "grafana-admin"
    datasource_uid: str = "prometheus"
    traefik_namespace: str = "traefik"
    flagger_namespace: str = "flagger-system"
    # "bundled" (this stack's own Prometheus, Alertmanager and Grafana) or
    # "prometheus-operator": an existing kube-prometheus-stack scrapes,
    # evaluates the rules and shows the dashboards (PodMonitors,
    # PrometheusRule and a dashboard ConfigMap instead).
    mode: str = "bundled"
    # An existing Prometheus (any namespace) Flagger's MetricTemplates and
    # Grafana query, e.g. http://kube-prometheus-stack-prometheus.monitoring:9090;
    # empty: this stack's own Prometheus Service.
    prometheus_address: str = ""
    # Where the operator's Prometheus pods run (admitted to scrape order-api).
    operator_namespace: str = "monitoring"
    # kube-prometheus-stack selects monitors and rules by its release name.
    operator_release: str = "kube-prometheus-stack"
    # The label Grafana's dashboard sidecar looks for (kube-prometheus-stack's default).
    dashboard_label: str = "grafana_dashboard"
    dashboard_label_value: str = "1"


@dataclass(frozen=True, kw_only=True)
class AlertsConfig:
    """Who hears about a rollback or a firing alert.

    Addresses and passwords are never settings: they are read from Secrets
    the user creates (named here), so dist/ holds no credential.
    """

    # Flagger's AlertProvider type: "" (none), slack, msteams, discord, rocket
    # or gchat. Rollbacks and failed checks go to it at severity `error`.
    flagger_provider: str = ""
    # The Secret (in the app namespace) whose key `address` is the webhook URL.
    flagger_secret: str = "flagger-alerts"
    flagger_channel: str = ""
    # When set (slack, rocket), a second provider posts every event of the
    # rollout, progress included (`info`), to this channel.
    flagger_progress_channel: str = ""
    # A generic webhook (Flagger's `event` webhook): every event of a rollout
    # is POSTed as JSON to this URL. It is written into the Canary, so it must
    # carry no secret (an in-cluster receiver, for example).
    flagger_event_url: str = ""
    alertmanager_image: str = "prom/alertmanager:v0.35.0"
    alertmanager_service: str = "alertmanager"
    alertmanager_port: int = 9093
    alertmanager_resources: Resources = field(
        default_factory=lambda: Resources(
            cpu_request="10m", cpu_limit="200m", memory_request="32Mi", memory_limit="128Mi"
        )
    )
    # Alertmanager's receiver: "" (none: alerts are kept and shown, not sent),
    # webhook, slack or email.
    receiver: str = ""
    # The Secret (in the app namespace) with the receiver's secrets: key `url`
    # (webhook URL, Slack webhook URL) or `password` (SMTP).
    receiver_secret: str = "alertmanager-receiver"
    slack_channel: str = ""
    email_to: str = ""
    email_from: str = ""
    # host:port of the SMTP server.
    email_smarthost: str = ""
    email_username: str = ""
    # An in-cluster receiver in the app namespace (a relay such as
    # prometheus-msteams, or the tests' webhook sink): the `app` label of its
    # pods and its port. The NetworkPolicies then admit Flagger (its event
    # webhook, its AlertProvider) and Alertmanager to it, and nothing else.
    receiver_app: str = ""
    receiver_port: int = 8080
    group_wait: str = "30s"
    # The wait of the `critical` route (OrderApiHighErrorRate, OrderApiDown).
    critical_group_wait: str = "10s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    # How long each alert's condition must hold before it fires (the rules' `for`).
    error_rate_for: str = "2m"
    latency_for: str = "5m"
    down_for: str = "1m"
    # Where the alerts' runbook_url points: the repository's docs/runbooks.md
    # as the team publishes it (each alert links its own section).
    runbook_base_url: str = "docs/runbooks.md"


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """Everything that varies between deployments of the stack."""

    namespace: str = "sre-demo"
    app: AppConfig = field(default_factory=AppConfig)
    ingress: IngressConfig = field(default_factory=IngressConfig)
    canary: CanaryConfig = field(default_factory=CanaryConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)

    @property
    def prometheus_url(self) -> str:
        """The in-cluster address Grafana and Flagger use."""
        m = self.monitoring
        if m.prometheus_address:
            return m.prometheus_address
        return f"http://{m.prometheus_service}.{self.namespace}:{m.prometheus_port}"

    @property
    def bundled_monitoring(self) -> bool:
        """Whether dist/ holds its own Prometheus, Alertmanager and Grafana."""
        return self.monitoring.mode == BUNDLED

    @property
    def alertmanager_address(self) -> str:
        """host:port of Alertmanager, as Prometheus' alerting block names it."""
        a = self.alerts
        return f"{a.alertmanager_service}.{self.namespace}:{a.alertmanager_port}"


def _coerce_tuple(value: Any, item: type, where: str) -> tuple[Any, ...]:
    """A YAML list, or a string "[10, 20]" / "10,20" from the environment."""
    if isinstance(value, str):
        text = value.strip()
        value = _coerce(text, list, where) if text.startswith("[") else text.split(",")
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Convert a YAML or environment value to `kind`, strictly."""
    if get_origin(kind) is tuple:
        return _coerce_tuple(value, get_args(kind)[0], where)
    if isinstance(value, str) and kind is not str:
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: not a valid {kind.__name__}: {exc}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _apply(obj: Any, values: Mapping[str, Any], where: str) -> Any:
    """Return a copy of dataclass `obj` with `values` applied recursively."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    hints = get_type_hints(type(obj))
    known = {f.name for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        here = f"{where}{key}" if where.endswith(" ") else f"{where}.{key}"
        if key not in known:
            raise ConfigError(f"{here}: unknown setting, {_suggest(obj, str(key))}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            changes[key] = _apply(current, value, here)
        else:
            changes[key] = _coerce(value, hints[key], here)
    return dataclasses.replace(obj, **changes)


def _suggest(obj: Any, key: str) -> str:
    """The closest valid key; a flat key that moved into a nested section
    (`cpu_request` -> `resources.cpu_request`) points there."""
    known = sorted(f.name for f in dataclasses.fields(obj))
    for name in known:
        nested = getattr(obj, name)
        if dataclasses.is_dataclass(nested):
            prefix = name.removesuffix("resources")
            for sub in (f.name for f in dataclasses.fields(nested)):
                if key in (sub, f"{prefix}{sub}"):
                    return f"did you mean `{name}.{sub}`?"
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean `{close[0]}`?" if close else f"known: {', '.join(known)}"


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    """Nest ORDER_API_SRE_SECTION__FIELD variables into a values mapping."""
    nested: dict[str, Any] = {}
    for name, raw in sorted(env.items()):
        # An empty variable means unset, as in the service's own settings.
        if not name.startswith(ENV_PREFIX) or name in NON_SETTING_ENV or raw == "":
            continue
        parts = name.removeprefix(ENV_PREFIX).lower().split("__")
        target = nested
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = raw
    return nested


def load_config(
    env: Mapping[str, str] | None = None, values_file: Path | None = None
) -> StackConfig:
    """Build the StackConfig from defaults, a values file and the environment."""
    env = os.environ if env is None else env
    config = StackConfig()
    path = values_file or (Path(env[VALUES_ENV]) if env.get(VALUES_ENV) else None)
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read values file: {exc}") from None
        config = _apply(config, data, f"{path}: ")
    env_values = _env_values(env)
    if env_values:
        config = _apply(config, env_values, "env: ")
    return config
