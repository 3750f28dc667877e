"""What the types cannot say: Kubernetes quantities, Prometheus durations and
sizes, the bucket edges of the latency gate, each refused naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stack.config import ConfigError, StackConfig, load_config
from stack.validation import check_config, prometheus_bytes, quantity


def test_the_defaults_pass() -> None:
    check_config(StackConfig())


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Decimal("0.1")),
        ("1", Decimal(1)),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("256Mi", Decimal(256 * 1024**2)),
        ("1Gi", Decimal(1024**3)),
        ("3G", Decimal(3 * 10**9)),
        ("1e3", Decimal(1000)),
        ("+2k", Decimal(2000)),
    ],
)
def test_kubernetes_quantities(text: str, value: Decimal) -> None:
    assert quantity(text) == value


@pytest.mark.parametrize("text", ["banana", "", "1.2.3", "10 Mi", "Mi", "1mi", "1KB", "0x10"])
def test_not_quantities(text: str) -> None:
    assert quantity(text) is None


def test_prometheus_sizes_are_base_2() -> None:
    assert prometheus_bytes("3GB") == 3 * 1024**3
    assert prometheus_bytes("512MB") == 512 * 1024**2
    assert prometheus_bytes("3Gi") is None and prometheus_bytes("GB") is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDER_API_SRE_APP__RESOURCES__CPU_REQUEST": "banana"},
         r"app\.resources\.cpu_request: must be a positive Kubernetes quantity"),
        ({"ORDER_API_SRE_APP__RESOURCES__MEMORY_LIMIT": "256MB"},
         r"app\.resources\.memory_limit: must be a positive Kubernetes quantity"),
        ({"ORDER_API_SRE_MONITORING__PROMETHEUS_RESOURCES__CPU_LIMIT": "0"},
         r"monitoring\.prometheus_resources\.cpu_limit: must be a positive"),
        ({"ORDER_API_SRE_APP__RESOURCES__CPU_REQUEST": "2"},
         r"app\.resources\.cpu_request: must not exceed app\.resources\.cpu_limit"),
        ({"ORDER_API_SRE_MONITORING__RETENTION": "2 days"},
         r"monitoring\.retention: must be a Prometheus duration"),
        ({"ORDER_API_SRE_MONITORING__RETENTION": "1h2d"},
         r"monitoring\.retention: must be a Prometheus duration"),
        ({"ORDER_API_SRE_MONITORING__RETENTION_SIZE": "3Gi"},
         r"monitoring\.retention_size: must be a Prometheus size"),
        ({"ORDER_API_SRE_MONITORING__RETENTION_SIZE": "8GB"},
         r"monitoring\.retention_size: must stay below monitoring\.storage_size_limit"),
        ({"ORDER_API_SRE_MONITORING__STORAGE_SIZE_LIMIT": "lots"},
         r"monitoring\.storage_size_limit: must be a positive Kubernetes quantity"),
        ({"ORDER_API_SRE_NAMESPACE": "Shop_1"}, r"namespace: must be a DNS-1123 label"),
        ({"ORDER_API_SRE_APP__NAME": "a" * 60}, r"app\.name: must be a DNS label of at most 55"),
        ({"ORDER_API_SRE_INGRESS__HOST": "shop example"},
         r"ingress\.host: must be an RFC 1123 host name"),
        ({"ORDER_API_SRE_INGRESS__HOST": "Shop.example.com"},
         r"ingress\.host: must be an RFC 1123 host name"),
        # The three values issue 21 found accepted.
        ({"ORDER_API_SRE_CANARY__SUCCESS_RATE_MIN_PERCENT": "150"},
         r"canary\.success_rate_min_percent: must be a percentage 0\.\.100"),
        ({"ORDER_API_SRE_CANARY__ERROR_RATE_MAX_PERCENT": "-1"},
         r"canary\.error_rate_max_percent: must be a percentage 0\.\.100"),
        ({"ORDER_API_SRE_MONITORING__FLAGGER_NAMESPACE": "Flagger System"},
         r"monitoring\.flagger_namespace: must be a DNS-1123 label"),
        ({"ORDER_API_SRE_MONITORING__TRAEFIK_NAMESPACE": "-traefik"},
         r"monitoring\.traefik_namespace: must be a DNS-1123 label"),
        ({"ORDER_API_SRE_INGRESS__TRAEFIK_SERVICE": "traefik.svc"},
         r"ingress\.traefik_service: must be a DNS-1123 label"),
        ({"ORDER_API_SRE_APP__IMAGE_REPOSITORY": "UPPER/Case"},
         r"app\.image_repository: must be an OCI repository"),
        ({"ORDER_API_SRE_APP__IMAGE_REPOSITORY": "org/app_"},
         r"app\.image_repository: must be an OCI repository"),
        ({"ORDER_API_SRE_APP__IMAGE_REGISTRY": "https://ghcr.io"},
         r"app\.image_registry: must be empty or a registry host"),
        ({"ORDER_API_SRE_APP__IMAGE_TAG": "-1.0"}, r"app\.image_tag: must be an image tag"),
        ({"ORDER_API_SRE_APP__IMAGE_PULL_SECRETS": "regcred,Bad_Secret"},
         r"app\.image_pull_secrets: each must be a DNS-1123 subdomain"),
        ({"ORDER_API_SRE_INGRESS__TRAEFIK_LATENCY_BUCKETS": "0.5,0.25"},
         r"ingress\.traefik_latency_buckets: must be increasing"),
        ({"ORDER_API_SRE_INGRESS__TRAEFIK_LATENCY_BUCKETS": "0.1,0.3,1.2,5"},
         r"canary\.latency_max_ms: must fall on a bucket edge"),
        ({"ORDER_API_SRE_ALERTS__FLAGGER_PROVIDER": "webhook"},
         r"alerts\.flagger_provider: must be empty \(no Flagger alerts\) or one of slack"),
        ({"ORDER_API_SRE_ALERTS__FLAGGER_PROVIDER": "msteams",
          "ORDER_API_SRE_ALERTS__FLAGGER_PROGRESS_CHANNEL": "releases"},
         r"alerts\.flagger_progress_channel: needs alerts\.flagger_provider slack or rocket"),
        ({"ORDER_API_SRE_ALERTS__FLAGGER_EVENT_URL": "https://user:pw@hooks.example.org/x"},
         r"alerts\.flagger_event_url: must be an http\(s\) URL without credentials"),
        ({"ORDER_API_SRE_ALERTS__RECEIVER": "pager"}, r"alerts\.receiver: must be empty"),
        ({"ORDER_API_SRE_ALERTS__RECEIVER": "slack"}, r"alerts\.slack_channel: must be set"),
        ({"ORDER_API_SRE_ALERTS__RECEIVER": "email", "ORDER_API_SRE_ALERTS__EMAIL_TO": "x@y.z",
          "ORDER_API_SRE_ALERTS__EMAIL_FROM": "a@b.c"},
         r"alerts\.email_smarthost: must be host:port"),
        ({"ORDER_API_SRE_ALERTS__GROUP_WAIT": "half a minute"},
         r"alerts\.group_wait: must be a Prometheus duration"),
        ({"ORDER_API_SRE_ALERTS__CRITICAL_GROUP_WAIT": "10"},
         r"alerts\.critical_group_wait: must be a Prometheus duration"),
        ({"ORDER_API_SRE_ALERTS__ERROR_RATE_FOR": "2 minutes"},
         r"alerts\.error_rate_for: must be a Prometheus duration"),
        ({"ORDER_API_SRE_ALERTS__RECEIVER_APP": "Alert_Sink"},
         r"alerts\.receiver_app: must be empty or the `app` label"),
        ({"ORDER_API_SRE_ALERTS__RECEIVER_PORT": "0"},
         r"alerts\.receiver_port: must be a TCP port"),
        ({"ORDER_API_SRE_ALERTS__ALERTMANAGER_IMAGE": "prom/alertmanager:latest"},
         r"alerts\.alertmanager_image: must be an image reference with a pinned tag"),
    ],
)  # fmt: skip
def test_bad_values_name_the_field(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_config(load_config(env=env))


@pytest.mark.parametrize("retention", ["2d", "12h", "1w", "1y2w3d4h5m6s7ms", "90m"])
def test_prometheus_durations_pass(retention: str) -> None:
    check_config(load_config(env={"ORDER_API_SRE_MONITORING__RETENTION": retention}))


@pytest.mark.parametrize("latency_ms", [250, 500, 1000, 2500])
def test_a_latency_gate_on_both_bucket_edges_passes(latency_ms: int) -> None:
    check_config(load_config(env={"ORDER_API_SRE_CANARY__LATENCY_MAX_MS": str(latency_ms)}))


@pytest.mark.parametrize("latency_ms", [300, 10, 750])
def test_a_latency_gate_off_a_bucket_edge_names_both_histograms(latency_ms: int) -> None:
    """10 ms is an edge of the app's histogram but not of Traefik's: refused too."""
    with pytest.raises(ConfigError) as raised:
        check_config(load_config(env={"ORDER_API_SRE_CANARY__LATENCY_MAX_MS": str(latency_ms)}))
    message = str(raised.value)
    assert message.startswith("canary.latency_max_ms: must fall on a bucket edge")
    assert "order_api.telemetry.LATENCY_BUCKETS" in message
    assert "ingress.traefik_latency_buckets" in message


def test_every_problem_is_reported_at_once() -> None:
    env = {
        "ORDER_API_SRE_APP__RESOURCES__CPU_REQUEST": "banana",
        "ORDER_API_SRE_CANARY__MAX_WEIGHT": "100",
    }
    with pytest.raises(ConfigError) as raised:
        check_config(load_config(env=env))
    assert "canary.max_weight" in str(raised.value)
    assert "app.resources.cpu_request" in str(raised.value)


@pytest.mark.parametrize(
    "env",
    [
        {"ORDER_API_SRE_APP__IMAGE_REPOSITORY": "ghcr.io/acme/order-api"},
        {"ORDER_API_SRE_APP__IMAGE_REPOSITORY": "localhost:5000/order-api"},
        {"ORDER_API_SRE_APP__IMAGE_REPOSITORY": "acme/order__api.v2"},
        {"ORDER_API_SRE_APP__IMAGE_REGISTRY": "registry.example.com:5000/team"},
        {"ORDER_API_SRE_APP__IMAGE_REGISTRY": "127.0.0.1:5000"},
        {"ORDER_API_SRE_APP__IMAGE_PULL_SECRETS": "regcred,ghcr.pull"},
        {"ORDER_API_SRE_CANARY__SUCCESS_RATE_MIN_PERCENT": "100"},
        {"ORDER_API_SRE_MONITORING__TRAEFIK_NAMESPACE": "kube-system"},
    ],
)
def test_valid_names_images_and_percentages_pass(env: dict[str, str]) -> None:
    check_config(load_config(env=env))


def test_the_image_reference_joins_registry_repository_and_tag() -> None:
    env = {"ORDER_API_SRE_APP__IMAGE_REGISTRY": "registry.example.com:5000"}
    assert load_config(env=env).app.image == "registry.example.com:5000/order-api:1.0.0"
    assert StackConfig().app.image == "order-api:1.0.0"
