"""The PromQL Flagger runs for a Canary metric: an inline query verbatim, else its
MetricTemplate (or Flagger's built-in Traefik query) rendered as Flagger does."""

from __future__ import annotations

import re

from rehearsal.failures import ComponentError
from rehearsal.spec.builtin_queries import TRAEFIK_QUERIES
from rehearsal.spec.canary_spec import Canary, Metric
from rehearsal.spec.duration_text import prometheus_duration
from rehearsal.spec.flagger_template import TemplateError, render_flagger_template


def render_metric_query(canary: Canary, metric: Metric, *, speed: float) -> str:
    """The PromQL Flagger would run for `metric`, with its window divided by `speed`."""
    if metric.query is not None:
        # Flagger runs an inline query verbatim, without template rendering.
        return metric.query
    text = metric.template.query if metric.template else TRAEFIK_QUERIES[metric.name]
    try:
        rendered = render_flagger_template(
            text,
            namespace=canary.namespace,
            target=canary.target,
            interval=prometheus_duration(metric.interval_s / speed),
            variables=metric.variables,
            name=canary.name,
            service=canary.target,
            ingress=canary.target,
        )
    except TemplateError as exc:
        raise ComponentError(f"metric {metric.name}: {exc}") from None
    # Flagger collapses whitespace before sending (PrometheusProvider.trimQuery).
    return re.sub(r"\s+", " ", rendered).strip()
