"""The lock-free collectors expose exactly what prometheus_client's Counter and
Histogram expose for the same observations, in both exposition formats."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from order_api import telemetry
from order_api.collectors import LatencyHistogram, RequestCounter

LABELS = (telemetry.METHOD, telemetry.PATH, telemetry.STATUS)


def fill(requests: Counter | RequestCounter, latency: Histogram | LatencyHistogram) -> None:
    rng = random.Random(26)
    edges = [0.0, *telemetry.LATENCY_BUCKETS, 0.0026, 0.5000001, 7.5, 60.0]
    for n in range(3000):
        method, path = rng.choice([("POST", telemetry.ORDER_PATH), ("GET", telemetry.READY_PATH)])
        status = rng.choice(["200", "201", "422", "503"])
        seconds = edges[n] if n < len(edges) else rng.expovariate(200)
        requests.labels(method, path, status).inc()
        latency.labels(method, path).observe(seconds)
    requests.labels("GET", telemetry.HEALTH_PATH, "200").inc(0)


def registry(native: bool) -> CollectorRegistry:
    reg = CollectorRegistry()
    name, doc = telemetry.REQUESTS_TOTAL.removesuffix("_total"), "requests."
    if native:
        fill(
            Counter(name, doc, LABELS, registry=reg),
            Histogram(
                telemetry.REQUEST_LATENCY,
                "latency.",
                LABELS[:2],
                buckets=telemetry.LATENCY_BUCKETS,
                registry=reg,
            ),
        )
    else:
        fill(
            RequestCounter(name, doc, LABELS, reg),
            LatencyHistogram(
                telemetry.REQUEST_LATENCY,
                "latency.",
                LABELS[:2],
                reg,
                buckets=telemetry.LATENCY_BUCKETS,
            ),
        )
    return reg


@pytest.mark.parametrize("generate", [generate_latest, generate_openmetrics])
def test_exposition_is_byte_for_byte_prometheus_clients(generate: object) -> None:
    assert callable(generate)
    native, lock_free = generate(registry(native=True)), generate(registry(native=False))
    native = b"\n".join(line for line in native.split(b"\n") if b"_created" not in line)
    assert lock_free == native
    assert b'le="+Inf"' in lock_free and b"_sum{" in lock_free


def test_labels_are_checked_and_counters_only_grow() -> None:
    requests = RequestCounter("x", "x.", LABELS, CollectorRegistry())
    with pytest.raises(ValueError, match="expected labels"):
        requests.labels("GET", "/")
    with pytest.raises(ValueError, match="non-negative"):
        requests.labels("GET", "/", "200").inc(-1)
