"""The metrics contract of order-api.

Every name and label here is part of the contract: the dashboards, the
Prometheus rules, the Flagger MetricTemplates and the rehearsal import them
from this module, so renaming one is a single edit that every consumer sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Info

from order_api.collectors import LatencyHistogram, RequestCounter

# Exposed names (what Prometheus stores).
REQUESTS_TOTAL = "http_requests_total"
REQUEST_LATENCY = "http_request_latency_seconds"
BUILD_INFO = "order_api_build_info"

# Labels.
METHOD = "method"
PATH = "path"
STATUS = "status"
VERSION = "version"

# 1 ms .. 5 s with an edge exactly at the 0.5 s canary latency gate.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)

# `path` is always a route template; anything that matches no route gets this
# one value so that no client input can grow the series count.
UNMATCHED_PATH = "unmatched"

# `method` is client input too: anything outside the standard HTTP methods is
# counted under this one value.
STANDARD_METHODS: frozenset[str] = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
)
OTHER_METHOD = "OTHER"

# Every response carries the serving version, so a client (or the canary
# rehearsal) can tell primary from canary without scraping.
VERSION_HEADER = "X-App-Version"

# Route templates.
ORDER_PATH = "/api/order"
HEALTH_PATH = "/api/health"
READY_PATH = "/api/ready"
VERSION_PATH = "/api/version"
METRICS_PATH = "/api/metrics"

# Probes and scrapes are counted, but under their own `path`, so business
# queries exclude them with this regex and the request rate stays honest.
NON_API_PATHS: tuple[str, ...] = (HEALTH_PATH, READY_PATH, METRICS_PATH)
NON_API_PATH_REGEX = "|".join(NON_API_PATHS)


@dataclass(frozen=True)
class Metrics:
    """The collectors of one service instance, bound to one registry."""

    registry: CollectorRegistry
    requests: RequestCounter
    latency: LatencyHistogram
    build: Info


def create_metrics(registry: CollectorRegistry, *, version: str) -> Metrics:
    """Register the contract's collectors in `registry` (one per app instance)."""
    # prometheus_client appends the `_total` / `_info` suffixes itself.
    requests = RequestCounter(
        REQUESTS_TOTAL.removesuffix("_total"),
        "HTTP requests handled, by route template and status code.",
        (METHOD, PATH, STATUS),
        registry=registry,
    )
    latency = LatencyHistogram(
        REQUEST_LATENCY,
        "HTTP request latency in seconds, by route template.",
        (METHOD, PATH),
        registry,
        buckets=LATENCY_BUCKETS,
    )
    build = Info(
        BUILD_INFO.removesuffix("_info"),
        "Build information of the running order-api.",
        registry=registry,
    )
    build.info({VERSION: version})
    return Metrics(registry=registry, requests=requests, latency=latency, build=build)
