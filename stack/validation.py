"""Checks that the config types cannot express, made before anything is written.

Flagger accepts a Canary that it then fails at run time (for example a metric
window shorter than two scrapes returns "no values found"), and Kubernetes
rejects a malformed quantity only at apply time; these checks stop such a
config at synth time, naming the field.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from decimal import Decimal

from order_api import telemetry
from stack.config import (
    BUNDLED,
    PROMETHEUS_OPERATOR,
    ConfigError,
    Resources,
    StackConfig,
)
from stack.names import AppNames

MIN_ANALYSIS_INTERVAL_S = 10  # Flagger's own lower bound.
UNPINNED_TAGS = {"", "latest"}
# The container image tag grammar; the tag is also the pod's ORDER_API_VERSION.
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Kubernetes' resource.Quantity: a signed decimal, then a binary or decimal SI
# suffix or a decimal exponent ("100m", "1.5", "256Mi", "1e3").
QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?\d+)?")
_SUFFIX = {
    "": Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
}  # fmt: skip
# Prometheus durations (model.ParseDuration): units from largest to smallest, each once.
PROMETHEUS_DURATION = re.compile(r"(?!$)(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")
# --storage.tsdb.retention.size: Prometheus' base-2 byte units.
PROMETHEUS_BYTES = re.compile(r"(\d+)(B|KB|MB|GB|TB|PB|EB)")
_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB")
# RFC 1123 label (namespaces, Service names); Flagger appends "-primary" to the app name.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_NAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
# The OCI distribution spec's repository grammar: lowercase path components
# joined by /, each separated inside by ., _, __ or runs of -.
REPOSITORY_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
# A registry host (RFC 1123 name, or an IPv4 address) and an optional port, as
# in the Docker reference grammar.
REGISTRY_HOST = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]{1,5})?"
)
DNS_LABEL_RULE = "must be a DNS-1123 label: 1-63 of a-z, 0-9, - (not starting or ending with -)"
DNS_SUBDOMAIN_RULE = (
    "must be a DNS-1123 subdomain: at most 253 of a-z, 0-9, - and . (labels joined by dots)"
)
MAX_APP_NAME = 63 - len(AppNames(name="", namespace="").primary)
# Grafana 12 is OOM-killed at start below this (migrations, plugin loading).
GRAFANA_MIN_MEMORY = "512Mi"
GRAFANA_MIN_MEMORY_BYTES = Decimal(512 * 1024**2)
# Flagger leaves a weight of 0 out of the TraefikService, and Traefik gives a
# service without a weight the weight 1: at maxWeight 100 the primary would
# still get 1/101 of the traffic instead of none.
MAX_CANARY_WEIGHT = 99
# Flagger's AlertProvider types (the enum of its pinned CRD) and those whose
# message goes to a named channel.
FLAGGER_PROVIDERS = ("slack", "msteams", "discord", "rocket", "gchat")
CHANNEL_PROVIDERS = ("slack", "rocket")
RECEIVERS = ("webhook", "slack", "email")
TLS_MODES = ("secret", "cert-manager")
ISSUER_KINDS = ("ClusterIssuer", "Issuer")
# An email address, loosely: Alertmanager parses it again at load time.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# No user:password@ and no query string: the URL is a literal in dist/.
EVENT_URL = re.compile(r"https?://[^@?\s]+")
HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:\d{1,5}")


def quantity(text: str) -> Decimal | None:
    """The value of a Kubernetes quantity, or None when `text` is not one."""
    match = QUANTITY.fullmatch(text)
    if match is None:
        return None
    number, suffix = Decimal(match[1]), match[2] or ""
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SUFFIX[suffix]


def prometheus_bytes(text: str) -> int | None:
    match = PROMETHEUS_BYTES.fullmatch(text)
    return int(match[1]) * 1024 ** _BYTE_UNITS.index(match[2]) if match else None


def _resource_problems(where: str, r: Resources) -> Iterator[str]:
    values = {}
    for key in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"):
        text = getattr(r, key)
        value = quantity(text)
        if value is None or value <= 0:
            yield (f"{where}.{key}: must be a positive Kubernetes quantity "
                   f"(e.g. 100m, 0.5, 256Mi) (got {text!r})")  # fmt: skip
        values[key] = value
    for kind in ("cpu", "memory"):
        request, limit = f"{kind}_request", f"{kind}_limit"
        low, high = values[request], values[limit]
        if low is not None and high is not None and low > high:
            yield (f"{where}.{request}: must not exceed {where}.{limit} "
                   f"(got {getattr(r, request)!r} > {getattr(r, limit)!r})")  # fmt: skip


def dns_label(text: str) -> bool:
    return len(text) <= 63 and bool(DNS_LABEL.fullmatch(text))


def dns_subdomain(text: str) -> bool:
    return bool(DNS_NAME.fullmatch(text))


def _registry_like(component: str) -> bool:
    """Docker's rule: a first component with a dot or a port, or localhost, is a registry."""
    return "." in component or ":" in component or component == "localhost"


def image_repository(text: str) -> bool:
    """An OCI repository, optionally led by a registry host (`ghcr.io/org/app`)."""
    parts = text.split("/")
    if len(parts) > 1 and _registry_like(parts[0]):
        if not REGISTRY_HOST.fullmatch(parts[0]):
            return False
        parts = parts[1:]
    return len(text) <= 255 and all(REPOSITORY_COMPONENT.fullmatch(p) for p in parts)


def image_registry(text: str) -> bool:
    """Empty (no registry), or a host[:port] optionally followed by repository path components."""
    if not text:
        return True
    host, *path = text.split("/")
    return bool(REGISTRY_HOST.fullmatch(host)) and all(
        REPOSITORY_COMPONENT.fullmatch(p) for p in path
    )


def _percent(value: float) -> bool:
    return 0 <= value <= 100


def _increasing(values: tuple[float, ...]) -> bool:
    return all(x < y for x, y in itertools.pairwise(values))


def _on_edge(gate_s: float, buckets: tuple[float, ...]) -> bool:
    return any(abs(edge - gate_s) < 1e-9 for edge in buckets)


def _rules(c: StackConfig) -> list[tuple[str, bool, str]]:
    """(field, ok, why) for every rule."""
    a, k, m, i = c.app, c.canary, c.monitoring, c.ingress
    gate_s = k.latency_max_ms / 1000
    traefik_buckets = i.traefik_latency_buckets
    return [
        ("namespace", dns_label(c.namespace), DNS_LABEL_RULE),
        ("monitoring.traefik_namespace", dns_label(m.traefik_namespace), DNS_LABEL_RULE),
        ("monitoring.flagger_namespace", dns_label(m.flagger_namespace), DNS_LABEL_RULE),
        ("ingress.traefik_service", dns_label(i.traefik_service), DNS_LABEL_RULE),
        ("monitoring.prometheus_service", dns_label(m.prometheus_service), DNS_LABEL_RULE),
        ("monitoring.grafana_admin_secret", dns_subdomain(m.grafana_admin_secret),
         DNS_SUBDOMAIN_RULE),
        ("app.image_pull_secrets", all(dns_subdomain(s) for s in a.image_pull_secrets),
         "each " + DNS_SUBDOMAIN_RULE + " (a Secret name)"),
        ("app.image_repository", image_repository(a.image_repository),
         "must be an OCI repository: lowercase a-z, 0-9 path components joined by /, "
         "separated inside by . _ __ or - (an optional registry host first)"),
        ("app.image_registry", image_registry(a.image_registry),
         "must be empty or a registry host[:port] (RFC 1123), optionally with lowercase "
         "path components (ghcr.io/org)"),
        ("canary.success_rate_min_percent", _percent(k.success_rate_min_percent),
         "must be a percentage 0..100"),
        ("canary.error_rate_max_percent", _percent(k.error_rate_max_percent),
         "must be a percentage 0..100"),
        ("ingress.traefik_latency_buckets",
         bool(traefik_buckets) and traefik_buckets[0] > 0 and _increasing(traefik_buckets),
         "must be increasing positive bucket edges in seconds"),
        ("app.name", bool(DNS_LABEL.fullmatch(a.name)) and len(a.name) <= MAX_APP_NAME,
         f"must be a DNS label of at most {MAX_APP_NAME} characters "
         "(Flagger names the primary `<name>-primary`)"),
        ("ingress.host", dns_subdomain(i.host),
         "must be an RFC 1123 host name: lowercase labels of a-z, 0-9, - joined by dots"),
        ("app.image_tag", a.image_tag not in UNPINNED_TAGS, "must be a pinned tag, not 'latest'"),
        ("app.image_tag", bool(IMAGE_TAG.fullmatch(a.image_tag)),
         "must be an image tag: 1-128 of letters, digits, _ . - (not starting with . or -)"),
        ("app.container_port", 1 <= a.container_port <= 65535, "must be a TCP port"),
        ("app.service_port", 1 <= a.service_port <= 65535, "must be a TCP port"),
        ("app.min_replicas", a.min_replicas >= 1, "must be at least 1"),
        ("app.max_replicas", a.max_replicas >= a.min_replicas, "must be >= app.min_replicas"),
        ("app.cpu_target_percent", 1 <= a.cpu_target_percent <= 100, "must be 1..100"),
        ("app.scale_down_stabilization_s", 0 <= a.scale_down_stabilization_s <= 3600,
         "must be 0..3600 (the HPA's limit)"),
        ("app.shutdown_delay_s", a.shutdown_delay_s >= 0, "must not be negative"),
        ("app.drain_timeout_s", a.drain_timeout_s >= 0, "must not be negative"),
        ("app.fault_error_rate", 0 <= a.fault_error_rate <= 1, "must be a fraction 0..1"),
        ("app.fault_delay_ms", a.fault_delay_ms >= 0, "must not be negative"),
        ("canary.interval_s", k.interval_s >= MIN_ANALYSIS_INTERVAL_S,
         f"Flagger needs an analysis interval of at least {MIN_ANALYSIS_INTERVAL_S}s"),
        ("canary.threshold", k.threshold >= 1, "must be at least 1"),
        ("canary.max_weight", 1 <= k.max_weight <= MAX_CANARY_WEIGHT,
         f"must be 1..{MAX_CANARY_WEIGHT}: Flagger leaves weight 0 out of the TraefikService "
         "and Traefik defaults a missing weight to 1, so at 100 the primary still gets 1/101"),
        ("canary.step_weight", 1 <= k.step_weight <= k.max_weight,
         "must be 1..canary.max_weight"),
        ("canary.step_weights", _increasing(k.step_weights) and all(1 <= w <= MAX_CANARY_WEIGHT
                                                   for w in k.step_weights),
         f"must be increasing weights in 1..{MAX_CANARY_WEIGHT} (the last is the max weight; "
         "Traefik would give a 0-weight primary 1/101 at 100)"),
        ("canary.metric_window_s", k.metric_window_s >= 2 * m.scrape_interval_s,
         "must cover at least two scrapes (2 x monitoring.scrape_interval_s)"),
        ("canary.load_rps", k.load_rps >= 1, "must be at least 1"),
        ("canary.latency_max_ms",
         _on_edge(gate_s, telemetry.LATENCY_BUCKETS) and _on_edge(gate_s, traefik_buckets),
         "must fall on a bucket edge of both the app's histogram "
         f"(order_api.telemetry.LATENCY_BUCKETS, s: {_edges(telemetry.LATENCY_BUCKETS)}) and "
         f"Traefik's (ingress.traefik_latency_buckets, s: {_edges(traefik_buckets)}), "
         "or the p99 checks read the next edge up"),
        ("monitoring.scrape_interval_s", m.scrape_interval_s >= 1, "must be at least 1"),
        ("monitoring.prometheus_port", 1 <= m.prometheus_port <= 65535, "must be a TCP port"),
        ("monitoring.grafana_port", 1 <= m.grafana_port <= 65535, "must be a TCP port"),
        ("monitoring.retention", bool(PROMETHEUS_DURATION.fullmatch(m.retention)),
         "must be a Prometheus duration (e.g. 2d, 12h, 1w)"),
        ("monitoring.retention_size", prometheus_bytes(m.retention_size) is not None,
         "must be a Prometheus size: an integer and one of B, KB, MB, GB, TB, PB, EB"),
        ("monitoring.storage_size_limit", (quantity(m.storage_size_limit) or 0) > 0,
         "must be a positive Kubernetes quantity (e.g. 4Gi)"),
        ("monitoring.retention_size",
         (prometheus_bytes(m.retention_size) or 0) < (quantity(m.storage_size_limit) or 1 << 70),
         "must stay below monitoring.storage_size_limit (the emptyDir is evicted when full)"),
        ("monitoring.grafana_resources.memory_limit",
         (quantity(m.grafana_resources.memory_limit) or 1 << 70) >= GRAFANA_MIN_MEMORY_BYTES,
         f"Grafana 12 needs at least {GRAFANA_MIN_MEMORY}"),
        *_alert_rules(c),
        *_tls_rules(c),
        *_mode_rules(c),
    ]  # fmt: skip


def _mode_rules(c: StackConfig) -> list[tuple[str, bool, str]]:
    m = c.monitoring
    return [
        ("monitoring.mode", m.mode in (BUNDLED, PROMETHEUS_OPERATOR),
         f"must be {BUNDLED} or {PROMETHEUS_OPERATOR}"),
        ("monitoring.prometheus_address",
         not m.prometheus_address or bool(EVENT_URL.fullmatch(m.prometheus_address)),
         "must be an http(s) URL without credentials"),
        ("monitoring.prometheus_address",
         m.mode != PROMETHEUS_OPERATOR or bool(m.prometheus_address),
         "must name the existing Prometheus in prometheus-operator mode "
         "(e.g. http://kube-prometheus-stack-prometheus.monitoring:9090)"),
        ("monitoring.operator_namespace", bool(DNS_LABEL.fullmatch(m.operator_namespace)),
         "must be a DNS label"),
    ]  # fmt: skip


def _tls_rules(c: StackConfig) -> list[tuple[str, bool, str]]:
    i = c.ingress
    return [
        ("ingress.tls", i.tls in ("", *TLS_MODES),
         f"must be empty (HTTP only) or one of {', '.join(TLS_MODES)}"),
        ("ingress.tls_secret", bool(DNS_NAME.fullmatch(i.tls_secret)),
         "must be a Secret name (DNS name)"),
        ("ingress.tls_issuer", i.tls != "cert-manager" or bool(DNS_NAME.fullmatch(i.tls_issuer)),
         "must name the cert-manager issuer when ingress.tls is cert-manager"),
        ("ingress.tls_issuer_kind", i.tls_issuer_kind in ISSUER_KINDS,
         f"must be one of {', '.join(ISSUER_KINDS)}"),
        ("ingress.tls_entry_point", not i.tls or i.tls_entry_point != i.entry_point,
         "must differ from ingress.entry_point (that one redirects to HTTPS)"),
        ("ingress.traefik_websecure_port", 1 <= i.traefik_websecure_port <= 65535,
         "must be a TCP port"),
    ]  # fmt: skip


def _alert_rules(c: StackConfig) -> list[tuple[str, bool, str]]:
    al = c.alerts
    email = al.receiver == "email"
    return [
        ("alerts.flagger_provider", al.flagger_provider in ("", *FLAGGER_PROVIDERS),
         f"must be empty (no Flagger alerts) or one of {', '.join(FLAGGER_PROVIDERS)}"),
        ("alerts.flagger_secret", bool(DNS_NAME.fullmatch(al.flagger_secret)),
         "must be a Secret name (DNS name)"),
        ("alerts.flagger_progress_channel",
         not al.flagger_progress_channel or al.flagger_provider in CHANNEL_PROVIDERS,
         f"needs alerts.flagger_provider {' or '.join(CHANNEL_PROVIDERS)} (the other "
         "types post to one address, which already gets the errors)"),
        ("alerts.flagger_event_url",
         not al.flagger_event_url or bool(EVENT_URL.fullmatch(al.flagger_event_url)),
         "must be an http(s) URL without credentials (it is written into the Canary)"),
        ("alerts.alertmanager_service", bool(DNS_LABEL.fullmatch(al.alertmanager_service)),
         "must be a DNS label"),
        ("alerts.alertmanager_port", 1 <= al.alertmanager_port <= 65535, "must be a TCP port"),
        ("alerts.receiver", al.receiver in ("", *RECEIVERS),
         f"must be empty (alerts kept in Alertmanager, sent nowhere) or one of "
         f"{', '.join(RECEIVERS)}"),
        ("alerts.receiver_secret", bool(DNS_NAME.fullmatch(al.receiver_secret)),
         "must be a Secret name (DNS name)"),
        ("alerts.receiver_app", not al.receiver_app or bool(DNS_LABEL.fullmatch(al.receiver_app)),
         "must be empty or the `app` label of the receiver's pods (a DNS label)"),
        ("alerts.receiver_port", 1 <= al.receiver_port <= 65535, "must be a TCP port"),
        ("alerts.slack_channel", al.receiver != "slack" or bool(al.slack_channel),
         "must be set for the slack receiver (e.g. #order-api-oncall)"),
        ("alerts.email_to", not email or bool(EMAIL.fullmatch(al.email_to)),
         "must be an email address for the email receiver"),
        ("alerts.email_from", not email or bool(EMAIL.fullmatch(al.email_from)),
         "must be an email address for the email receiver"),
        ("alerts.email_smarthost", not email or bool(HOST_PORT.fullmatch(al.email_smarthost)),
         "must be host:port of the SMTP server for the email receiver"),
        *[(f"alerts.{name}", bool(PROMETHEUS_DURATION.fullmatch(getattr(al, name))),
           "must be a Prometheus duration (e.g. 30s, 5m, 4h)")
          for name in ("group_wait", "critical_group_wait", "group_interval", "repeat_interval",
                       "error_rate_for", "latency_for", "down_for")],
        ("alerts.runbook_base_url", bool(al.runbook_base_url) and "#" not in al.runbook_base_url,
         "must be the runbooks page without a #fragment (each alert adds its own)"),
    ]  # fmt: skip


def _edges(buckets: tuple[float, ...]) -> str:
    return ", ".join(f"{b:g}" for b in buckets)


def _image_rules(c: StackConfig) -> list[tuple[str, str]]:
    m = c.monitoring
    return [
        ("canary.loadtester_image", c.canary.loadtester_image),
        ("monitoring.prometheus_image", m.prometheus_image),
        ("monitoring.grafana_image", m.grafana_image),
        ("alerts.alertmanager_image", c.alerts.alertmanager_image),
    ]


def _pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in UNPINNED_TAGS


# The Resources sections: each key a positive quantity, each request <= its limit.
RESOURCE_SECTIONS = ("app.resources", "monitoring.prometheus_resources",
                     "monitoring.grafana_resources", "alerts.alertmanager_resources")  # fmt: skip
RESOURCE_RULE = "must be a positive Kubernetes quantity (e.g. 100m, 0.5, 256Mi); request <= limit"
PINNED_RULE = "must be an image reference with a pinned tag (not latest)"


def check_config(config: StackConfig) -> None:
    """Raise ConfigError listing every violated rule, each naming its field."""
    problems = [f"{field}: {why} (got {_value(config, field)!r})"
                for field, ok, why in _rules(config) if not ok]  # fmt: skip
    for where in RESOURCE_SECTIONS:
        resources = _value(config, where)
        assert isinstance(resources, Resources)
        problems += _resource_problems(where, resources)
    problems += [
        f"{field}: {PINNED_RULE} (got {image!r})"
        for field, image in _image_rules(config)
        if not _pinned(image)
    ]
    if problems:
        raise ConfigError("; ".join(problems))


def constraints(config: StackConfig) -> dict[str, list[str]]:
    """Every rule's text by the field it names (for the configuration reference)."""
    found: dict[str, list[str]] = {}
    for field, _, why in _rules(config):
        found.setdefault(field, []).append(why)
    for where in RESOURCE_SECTIONS:
        for key in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"):
            found.setdefault(f"{where}.{key}", []).append(RESOURCE_RULE)
    for field, _ in _image_rules(config):
        found.setdefault(field, []).append(PINNED_RULE)
    return found


def _value(config: StackConfig, dotted: str) -> object:
    obj: object = config
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
