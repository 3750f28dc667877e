"""Request instrumentation and the /api/metrics scrape endpoint.

Every response is counted in `http_requests_total{method, path, status}` and
timed in `http_request_latency_seconds{method, path}`, with `path` the route
template (or `telemetry.UNMATCHED_PATH`), so no client input grows the series.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from sanic import Blueprint, HTTPResponse, Request, raw

from order_api import telemetry
from order_api.collectors import CounterChild, HistogramChild
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


Handler = Callable[[Request], Awaitable[HTTPResponse]]
Recorder = Callable[[float], None]


def recorder(requests: CounterChild, latency: HistogramChild) -> Recorder:
    """`requests.inc()` + `latency.observe(seconds)` for two bound label children.

    Bound once per (method, path, status): looking the children up by label
    is too slow to repeat on every request. The body is inc() and observe()
    inlined: three attribute updates, nothing allocated but the float sum.
    """
    counts, bounds = latency.counts, latency.bounds

    def record(seconds: float) -> None:
        requests.value += 1
        counts[bisect_left(bounds, seconds)] += 1
        latency.sum += seconds

    return record


class Instrumentation:
    """Counts, times and version-stamps every response exactly once.

    Two paths produce responses, and each records its own:
    - `route()` registers API handlers wrapped: what a handler returns is recorded;
    - the error handler calls `record()` for every response it renders (404/405
      before routing, 413 while reading the body, an unexpected exception).
    A wrapper costs half of what Sanic's response middleware machinery does on
    the benchmarked path, and the bench's bare endpoint stays uninstrumented.
    """

    def __init__(self, metrics: Metrics, *, version: str) -> None:
        self._metrics = metrics
        self._version = version
        # The only `path` label values besides UNMATCHED_PATH.
        self._templates: set[str] = set()
        # A recorder per (method, path, status): .labels() takes a lock and
        # validates the labels, too slow to repeat on every request.
        self._recorders: dict[tuple[str, str, int], Recorder] = {}

    def route(
        self, bp: Blueprint, method: str, path: str, *, stamps_version: bool = False
    ) -> Callable[[Handler], Handler]:
        """Decorator: serve `handler` at `method path` on `bp`, instrumented.

        Stack two for two methods (HEAD beside GET: Sanic answers HEAD
        without the body); each method is counted under its own name.
        `stamps_version`: the handler's responses carry the version header
        already (a PreparedResponse has it in its prepared head).
        """
        self._templates.add(path)
        version, header = self._version, telemetry.VERSION_HEADER

        def register(handler: Handler) -> Handler:
            # Method and path are fixed per route: key the children by status
            # alone, so the hot path allocates no label tuple.
            by_status: dict[int, Recorder] = {}

            async def instrumented(request: Request) -> HTTPResponse:
                response = await handler(request)
                status = response.status
                record = by_status.get(status)
                if record is None:
                    record = by_status[status] = self._bind(method, path, status)
                record(perf_counter() - request.started)  # type: ignore[attr-defined]
                if not stamps_version:
                    response.headers[header] = version
                return response

            name = handler.__name__ if method != "HEAD" else f"{handler.__name__}_head"
            bp.add_route(instrumented, path, methods=[method], name=name)
            return handler

        return register

    def record(self, request: Request, response: HTTPResponse) -> None:
        """Record a response rendered outside the handlers (the error path)."""
        route = request.route
        path = route.uri if route is not None else request.path
        if path not in self._templates:  # includes 404s: raw URLs never become labels
            path = telemetry.UNMATCHED_PATH
        method = request.method
        if method not in telemetry.STANDARD_METHODS:
            method = telemetry.OTHER_METHOD
        status = response.status
        record = self._recorders.get((method, path, status)) or self._bind(method, path, status)
        record(perf_counter() - request.started)  # type: ignore[attr-defined]
        response.headers[telemetry.VERSION_HEADER] = self._version

    def _bind(self, method: str, path: str, status: int) -> Recorder:
        record = recorder(
            self._metrics.requests.labels(method, path, str(status)),
            self._metrics.latency.labels(method, path),
        )
        self._recorders[(method, path, status)] = record
        return record


def create_blueprint(registry: CollectorRegistry, instrumentation: Instrumentation) -> Blueprint:
    bp = Blueprint("metrics")

    @instrumentation.route(bp, "GET", telemetry.METRICS_PATH)
    async def scrape(request: Request) -> HTTPResponse:
        # OpenMetrics when the scraper asks for it (Prometheus does by default),
        # the classic text format otherwise.
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return raw(encoder(registry), content_type=content_type)

    return bp
