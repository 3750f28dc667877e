"""The rehearsal's stand-in for Flagger's own /metrics.

Same metric names and labels as Flagger's recorder (`pkg/metrics/recorder.go`,
names from dashboards.external_metrics), and the same values:
- `flagger_canary_metric_analysis`: the built-in `request-duration` in SECONDS
  (`scheduler_metrics.go`: `SetAnalysis(..., val.Seconds())`), every other
  metric as its query returned it; recorded only when the query gave a value;
- `flagger_canary_successes_total` / `failures_total`: a series appears at 1
  when the first rollout ends (client_golang's `WithLabelValues(...).Inc()`),
  with no 0 sample before it and no `_created` series.

A collector builds the families from plain state at each scrape, so nothing
exists before Flagger would have set it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dashboards import external_metrics as ext
from rehearsal.failures import ComponentError
from rehearsal.measure.loopback import LOOPBACK
from rehearsal.model.child_processes import bind_retrying
from rehearsal.spec.flagger_analysis import Phase, Status
from stack.names import REQUEST_DURATION, AppNames

# Flagger's recorder labels for successes/failures of the canary strategy.
DEPLOYMENT_STRATEGY = "canary"
ANALYSIS_STATUS_COMPLETED = "completed"


def status_code(phase: Phase) -> int:
    """Flagger's `SetStatus`: Progressing 0, Failed 2, every other phase 1."""
    if phase == Phase.PROGRESSING:
        return ext.FLAGGER_STATUS_PROGRESSING
    if phase == Phase.FAILED:
        return ext.FLAGGER_STATUS_FAILED
    return ext.FLAGGER_STATUS_SUCCEEDED


def recorded_value(metric: str, value: float, *, builtin: bool) -> float:
    """What Flagger puts in flagger_canary_metric_analysis for a checked value.

    The built-in request-duration is compared in milliseconds but recorded as
    a time.Duration's Seconds(); everything else is recorded as returned.
    """
    return value / 1000 if builtin and metric == REQUEST_DURATION else value


@dataclass
class FlaggerState:
    """What Flagger's recorder has set so far, for one Canary."""

    target: str
    namespace: str
    primary_weight: int | None = None
    canary_weight: int | None = None
    status: int | None = None
    analysis: dict[str, float] = field(default_factory=dict)
    successes: int = 0
    failures: int = 0


class FlaggerCollector(Collector):
    def __init__(self, state: FlaggerState, lock: threading.Lock) -> None:
        self._state, self._lock = state, lock

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            s = FlaggerState(**{**vars(self._state), "analysis": dict(self._state.analysis)})
        total = GaugeMetricFamily(
            ext.FLAGGER_CANARY_TOTAL,
            "Total number of canary object",
            labels=[ext.FLAGGER_NAMESPACE],
        )
        total.add_metric([s.namespace], 1)
        yield total
        if s.canary_weight is not None and s.primary_weight is not None:
            weight = GaugeMetricFamily(
                ext.FLAGGER_CANARY_WEIGHT,
                "The virtual service destination weight current value",
                labels=[ext.FLAGGER_WORKLOAD, ext.FLAGGER_NAMESPACE],
            )
            names = AppNames(name=s.target, namespace=s.namespace)
            weight.add_metric([names.primary, s.namespace], s.primary_weight)
            weight.add_metric([s.target, s.namespace], s.canary_weight)
            yield weight
        if s.status is not None:
            status = GaugeMetricFamily(
                ext.FLAGGER_CANARY_STATUS,
                "Last canary analysis result",
                labels=[ext.FLAGGER_NAME, ext.FLAGGER_NAMESPACE],
            )
            status.add_metric([s.target, s.namespace], s.status)
            yield status
        if s.analysis:
            analysis = GaugeMetricFamily(
                ext.FLAGGER_CANARY_METRIC_ANALYSIS,
                "Last canary analysis result per metric",
                labels=[ext.FLAGGER_NAME, ext.FLAGGER_NAMESPACE, ext.FLAGGER_METRIC],
            )
            for metric, value in sorted(s.analysis.items()):
                analysis.add_metric([s.target, s.namespace, metric], value)
            yield analysis
        yield from self._outcomes(s)

    @staticmethod
    def _outcomes(s: FlaggerState) -> Iterator[Metric]:
        labels = [
            ext.FLAGGER_NAME,
            ext.FLAGGER_NAMESPACE,
            ext.FLAGGER_DEPLOYMENT_STRATEGY,
            ext.FLAGGER_ANALYSIS_STATUS,
        ]
        values = [s.target, s.namespace, DEPLOYMENT_STRATEGY, ANALYSIS_STATUS_COMPLETED]
        for name, count, doc in (
            (ext.FLAGGER_CANARY_SUCCESSES_TOTAL, s.successes, "Total number of canary successes"),
            (ext.FLAGGER_CANARY_FAILURES_TOTAL, s.failures, "Total number of canary failures"),
        ):
            # prometheus_client appends `_total` itself.
            family = CounterMetricFamily(name.removesuffix("_total"), doc, labels=labels)
            if count:
                family.add_metric(values, count)
            yield family


@dataclass
class FlaggerExporter:
    """flagger_canary_* for one Canary, served on loopback."""

    state: FlaggerState
    port: int
    _lock: threading.Lock
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def record(self, status: Status) -> None:
        """What Flagger's SetWeight/SetStatus record after a tick."""
        with self._lock:
            self.state.primary_weight = status.primary_weight
            self.state.canary_weight = status.canary_weight
            self.state.status = status_code(status.phase)

    def record_weight(self, canary_weight: int) -> None:
        with self._lock:
            self.state.primary_weight = 100 - canary_weight
            self.state.canary_weight = canary_weight

    def record_metric(self, metric: str, value: float, *, builtin: bool) -> None:
        with self._lock:
            self.state.analysis[metric] = recorded_value(metric, value, builtin=builtin)

    def record_outcome(self, phase: Phase) -> None:
        with self._lock:
            if phase == Phase.SUCCEEDED:
                self.state.successes += 1
            elif phase == Phase.FAILED:
                self.state.failures += 1

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_exporter(*, target: str, namespace: str) -> FlaggerExporter:
    """Serve a new Canary's metrics on a free loopback port (Initialized, weight 0)."""
    state = FlaggerState(target=target, namespace=namespace)
    lock = threading.Lock()
    registry = CollectorRegistry()
    registry.register(FlaggerCollector(state, lock))

    def serve(port: int) -> tuple[WSGIServer, threading.Thread]:
        return start_http_server(port, addr=LOOPBACK, registry=registry)

    try:
        port, (server, thread) = bind_retrying(serve)
    except OSError as exc:
        raise ComponentError(f"Flagger exporter: cannot listen on {LOOPBACK}: {exc}") from None
    exporter = FlaggerExporter(state=state, port=port, _lock=lock, _server=server, _thread=thread)
    exporter.record(Status())
    return exporter
