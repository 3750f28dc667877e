"""The Canary's analysis metrics, once: synth builds the Canary and its
MetricTemplates from `analysis_metrics()`; the dashboard's analysis table shows
the same names (`queries.ANALYSIS_DISPLAY`, tested to agree)."""

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
    # The MetricTemplate query; None for Flagger's built-in checks.
    query: str | None = None

    @property
    def builtin(self) -> bool:
        return self.query is None


def analysis_metrics(config: StackConfig) -> list[AnalysisMetric]:
    """Flagger's built-in Traefik checks first, then the app's own metrics."""
    c = config.canary
    return [
        AnalysisMetric(name=REQUEST_SUCCESS_RATE, threshold={"min": c.success_rate_min_percent}),
        AnalysisMetric(name=REQUEST_DURATION, threshold={"max": c.latency_max_ms}),
        AnalysisMetric(
            name=ERROR_RATE,
            threshold={"max": c.error_rate_max_percent},
            query=queries.ERROR_RATE_TEMPLATE,
        ),
        AnalysisMetric(
            name=LATENCY_P99,
            threshold={"max": c.latency_max_ms},
            query=queries.LATENCY_P99_TEMPLATE,
        ),
    ]
