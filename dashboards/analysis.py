"""The Canary's analysis metrics, once: the Canary, its MetricTemplates and the
dashboard's analysis table are all built from `analysis_metrics()`.

`unit` is the Grafana unit of the value Flagger records for the metric in
`flagger_canary_metric_analysis`: the built-in request-duration as seconds
(`scheduler_metrics.go`: `SetAnalysis(..., val.Seconds())`) although its
threshold is in milliseconds, request-success-rate in percent, and a
MetricTemplate's value as the query returns it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboards import queries
from stack.config import StackConfig
from stack.names import ERROR_RATE, LATENCY_P99, REQUEST_DURATION, REQUEST_SUCCESS_RATE


@dataclass(frozen=True, kw_only=True)
class AnalysisMetric:
    """One metric of the Canary's analysis."""

    name: str
    # Flagger's thresholdRange: {"min": ...} or {"max": ...}, in the check's unit.
    threshold: dict[str, float]
    # Grafana unit of the value Flagger records (see the module docstring).
    recorded_unit: str
    # The MetricTemplate query; None for Flagger's built-in checks.
    query: str | None = None

    @property
    def builtin(self) -> bool:
        return self.query is None


def analysis_metrics(config: StackConfig) -> list[AnalysisMetric]:
    """Flagger's built-in Traefik checks first, then the app's own metrics."""
    c = config.canary
    return [
        AnalysisMetric(name=REQUEST_SUCCESS_RATE, threshold={"min": c.success_rate_min_percent},
                       recorded_unit="percent"),
        AnalysisMetric(name=REQUEST_DURATION, threshold={"max": c.latency_max_ms},
                       recorded_unit="s"),
        AnalysisMetric(name=ERROR_RATE, threshold={"max": c.error_rate_max_percent},
                       recorded_unit="percent", query=queries.ERROR_RATE_TEMPLATE),
        AnalysisMetric(name=LATENCY_P99, threshold={"max": c.latency_max_ms},
                       recorded_unit="ms", query=queries.LATENCY_P99_TEMPLATE),
    ]  # fmt: skip
