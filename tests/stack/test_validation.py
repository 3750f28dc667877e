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
        ({"ORDER_API_SRE_NAMESPACE": "Shop_1"}, r"namespace: must be a DNS label"),
        ({"ORDER_API_SRE_APP__NAME": "a" * 60}, r"app\.name: must be a DNS label of at most 55"),
        ({"ORDER_API_SRE_INGRESS__HOST": "shop example"}, r"ingress\.host: must be a DNS name"),
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
        ({"ORDER_API_SRE_ALERTS__ALERTMANAGER_IMAGE": "prom/alertmanager:latest"},
         r"alerts\.alertmanager_image: image must carry a pinned tag"),
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
    assert "stack.config.TRAEFIK_LATENCY_BUCKETS" in message


def test_every_problem_is_reported_at_once() -> None:
    env = {
        "ORDER_API_SRE_APP__RESOURCES__CPU_REQUEST": "banana",
        "ORDER_API_SRE_CANARY__MAX_WEIGHT": "100",
    }
    with pytest.raises(ConfigError) as raised:
        check_config(load_config(env=env))
    assert "canary.max_weight" in str(raised.value)
    assert "app.resources.cpu_request" in str(raised.value)
