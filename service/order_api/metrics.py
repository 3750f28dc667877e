"""Request instrumentation and the /api/metrics scrape endpoint.

Every response is counted in `http_requests_total{method, path, status}` and
timed in `http_request_latency_seconds{method, path}`, with `path` the route
template (or `telemetry.UNMATCHED_PATH`), so no client input grows the series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from sanic import Blueprint, HTTPResponse, Request, raw

from order_api import telemetry
from order_api.telemetry import Metrics


class TimedRequest(Request):
    """A request stamped when Sanic has parsed its head.

    Stamping at construction times every request, including the ones Sanic
    rejects before routing, without a request middleware on the hot path.
    """

    __slots__ = ("started",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.started = perf_counter()
        super().__init__(*args, **kwargs)


Recorder = Callable[[Request, HTTPResponse], None]


def create_recorder(metrics: Metrics, *, version: str, templates: Iterable[str]) -> Recorder:
    """Build the function that counts, times and version-stamps one response.

    It is a plain closure rather than a method: it runs on every request, and
    Sanic registers blueprint middleware only for plain functions.
    """
    # Static route templates, to label requests Sanic rejected before routing
    # (405 on a known path) with their template instead of UNMATCHED_PATH.
    known_templates = frozenset(templates)
    standard_methods = telemetry.STANDARD_METHODS
    # Bound label children per (method, path, status): .labels() takes a lock
    # and validates the labels, too slow to repeat on every request.
    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def bind(method: str, path: str, status: int) -> tuple[Any, Any]:
        pair = (
            metrics.requests.labels(method, path, str(status)),
            metrics.latency.labels(method, path),
        )
        children[(method, path, status)] = pair
        return pair

    def record(request: Request, response: HTTPResponse) -> None:
        route = request.route
        if route is not None:
            path = route.uri
        else:
            path = request.path
            if path not in known_templates:
                path = telemetry.UNMATCHED_PATH
        method = request.method
        if method not in standard_methods:
            method = telemetry.OTHER_METHOD
        status = response.status
        pair = children.get((method, path, status)) or bind(method, path, status)
        pair[0].inc()
        pair[1].observe(perf_counter() - request.started)  # type: ignore[attr-defined]
        response.headers[telemetry.VERSION_HEADER] = version

    return record


def create_blueprint(registry: CollectorRegistry) -> Blueprint:
    bp = Blueprint("metrics")

    @bp.get(telemetry.METRICS_PATH)
    async def scrape(request: Request) -> HTTPResponse:
        # OpenMetrics when the scraper asks for it (Prometheus does by default),
        # the classic text format otherwise.
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return raw(encoder(registry), content_type=content_type)

    return bp
