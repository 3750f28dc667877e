"""The rehearsal's stand-in for Flagger's own /metrics.

Same metric names and labels as Flagger's recorder (`pkg/metrics/recorder.go`,
imported from dashboards.external_metrics), so the dashboards and alert rules
from dist/ show a rehearsal exactly as they would show a real rollout.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from dashboards import external_metrics as ext
from rehearsal.components import LOOPBACK, free_port
from rehearsal.flagger import Phase, Status

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


@dataclass
class FlaggerExporter:
    """flagger_canary_* gauges and counters for one Canary, served on loopback."""

    target: str
    namespace: str
    port: int
    registry: CollectorRegistry
    _server: WSGIServer
    _thread: threading.Thread
    _weight: Gauge
    _status: Gauge
    _analysis: Gauge
    _successes: Counter
    _failures: Counter

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def record(self, status: Status) -> None:
        """What Flagger's SetWeight/SetStatus record after a tick."""
        self._weight.labels(f"{self.target}-primary", self.namespace).set(status.primary_weight)
        self._weight.labels(self.target, self.namespace).set(status.canary_weight)
        self._status.labels(self.target, self.namespace).set(status_code(status.phase))

    def record_metric(self, metric: str, value: float) -> None:
        self._analysis.labels(self.target, self.namespace, metric).set(value)

    def record_outcome(self, phase: Phase) -> None:
        labels = (self.target, self.namespace, DEPLOYMENT_STRATEGY, ANALYSIS_STATUS_COMPLETED)
        if phase == Phase.SUCCEEDED:
            self._successes.labels(*labels).inc()
        elif phase == Phase.FAILED:
            self._failures.labels(*labels).inc()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_exporter(*, target: str, namespace: str) -> FlaggerExporter:
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...]) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    def counter(name: str, doc: str) -> Counter:
        labels = (
            ext.FLAGGER_NAME,
            ext.FLAGGER_NAMESPACE,
            ext.FLAGGER_DEPLOYMENT_STRATEGY,
            ext.FLAGGER_ANALYSIS_STATUS,
        )
        # prometheus_client appends `_total` itself.
        return Counter(name.removesuffix("_total"), doc, labels, registry=registry)

    weight = gauge(
        ext.FLAGGER_CANARY_WEIGHT,
        "The virtual service destination weight current value",
        (ext.FLAGGER_WORKLOAD, ext.FLAGGER_NAMESPACE),
    )
    status = gauge(
        ext.FLAGGER_CANARY_STATUS,
        "Last canary analysis result",
        (ext.FLAGGER_NAME, ext.FLAGGER_NAMESPACE),
    )
    analysis = gauge(
        ext.FLAGGER_CANARY_METRIC_ANALYSIS,
        "Last canary analysis result per metric",
        (ext.FLAGGER_NAME, ext.FLAGGER_NAMESPACE, ext.FLAGGER_METRIC),
    )
    total = gauge(
        ext.FLAGGER_CANARY_TOTAL, "Total number of canary object", (ext.FLAGGER_NAMESPACE,)
    )
    total.labels(namespace).set(1)
    successes = counter(ext.FLAGGER_CANARY_SUCCESSES_TOTAL, "Total number of canary successes")
    failures = counter(ext.FLAGGER_CANARY_FAILURES_TOTAL, "Total number of canary failures")
    port = free_port()
    server, thread = start_http_server(port, addr=LOOPBACK, registry=registry)
    exporter = FlaggerExporter(
        target=target,
        namespace=namespace,
        port=port,
        registry=registry,
        _server=server,
        _thread=thread,
        _weight=weight,
        _status=status,
        _analysis=analysis,
        _successes=successes,
        _failures=failures,
    )
    exporter.record(Status())
    return exporter
