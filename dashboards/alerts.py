"""Alerting rules for order-api and its canary, thresholds from the stack config."""

from __future__ import annotations

from dataclasses import dataclass

from dashboards import external_metrics as ext
from dashboards import queries
from stack.config import StackConfig
from stack.durations import in_words
from stack.names import CANARY, PRIMARY, app_names

SEVERITY = "severity"
# The alert names: Alertmanager's routes and inhibitions refer to them too.
HIGH_ERROR_RATE = "OrderApiHighErrorRate"
HIGH_LATENCY = "OrderApiHighLatency"
DOWN = "OrderApiDown"
ROLLED_BACK = "CanaryRolledBack"
CRITICAL = "critical"
WARNING = "warning"


def runbook_anchor(alert: str) -> str:
    """The section of docs/runbooks.md for `alert`: its heading is the alert's name,
    and a Markdown renderer's anchor for it is the name in lower case."""
    return alert.lower()


@dataclass(frozen=True)
class Alert:
    """One alerting rule.

    `signal` is the value the alert judges (what the live test checks against
    the traffic it sent); `expr` is the firing condition built on it.
    """

    name: str
    signal: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    runbook_url: str
    labels: tuple[tuple[str, str], ...] = ()

    def to_rule(self) -> dict[str, object]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {SEVERITY: self.severity, **dict(self.labels)},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": self.runbook_url,
            },
        }


def _tracks(config: StackConfig) -> tuple[str, str]:
    """Matchers for this stack's namespace and both tracks (primary, canary)."""
    names = app_names(config)
    tracks = "|".join(names.track_app(track) for track in (CANARY, PRIMARY))
    return (
        queries.matcher(queries.NAMESPACE_LABEL, "=", config.namespace),
        queries.matcher(queries.APP_LABEL, "=~", tracks),
    )


def alerting_rules(config: StackConfig, *, error_ratio: str, latency_buckets: str) -> list[Alert]:
    """The alerts; `error_ratio` and `latency_buckets` are recorded series names."""
    tracks = _tracks(config)
    canary, app = config.canary, config.app.name
    error_pct = f"100 * {queries.selector(error_ratio, *tracks)}"
    p99_ms = queries.quantile_ms(
        queries.P99,
        queries.selector(latency_buckets, *tracks),
        by=(queries.NAMESPACE_LABEL, queries.APP_LABEL),
    )
    up = queries.selector("up", *tracks)
    status = queries.selector(
        ext.FLAGGER_CANARY_STATUS,
        queries.matcher(ext.FLAGGER_NAMESPACE, "=", config.namespace),
        queries.matcher(ext.FLAGGER_NAME, "=", app),
    )
    canary_status = f"max by ({ext.FLAGGER_NAMESPACE}, {ext.FLAGGER_NAME}) ({status})"

    def runbook(alert: str) -> str:
        return f"{config.alerts.runbook_base_url}#{runbook_anchor(alert)}"

    return [
        Alert(
            name=HIGH_ERROR_RATE,
            runbook_url=runbook(HIGH_ERROR_RATE),
            signal=error_pct,
            expr=f"{error_pct} > {canary.error_rate_max_percent:g}",
            for_=config.alerts.error_rate_for,
            severity=CRITICAL,
            summary=f"{app} answers too many requests with 5xx",
            description=(
                "{{ $labels.app }} in {{ $labels.namespace }} answered "
                '{{ $value | printf "%.2f" }}% of API requests with 5xx over the last '
                f"{in_words(canary.metric_window_s)} "
                f"(threshold {canary.error_rate_max_percent:g}%)."
            ),
        ),
        Alert(
            name=HIGH_LATENCY,
            runbook_url=runbook(HIGH_LATENCY),
            signal=p99_ms,
            expr=f"{p99_ms} > {canary.latency_max_ms}",
            for_=config.alerts.latency_for,
            severity=WARNING,
            summary=f"{app} p99 latency is above the canary latency threshold",
            description=(
                "{{ $labels.app }} in {{ $labels.namespace }} has a p99 latency of "
                '{{ $value | printf "%.0f" }} ms (threshold '
                f"{canary.latency_max_ms} ms, the Canary's request-duration gate)."
            ),
        ),
        Alert(
            name=DOWN,
            runbook_url=runbook(DOWN),
            signal=f"sum({up})",
            # absent() also fires when the targets vanish altogether (pods
            # deleted, discovery broken), where `up == 0` would stay silent.
            expr=f"absent({up} == 1)",
            for_=config.alerts.down_for,
            severity=CRITICAL,
            summary=f"No {app} target is up",
            description=(
                f"Prometheus has no healthy scrape target for {app} (primary or "
                f"canary) in {config.namespace}: the service is down or not discovered."
            ),
            labels=((queries.NAMESPACE_LABEL, config.namespace),),
        ),
        Alert(
            name=ROLLED_BACK,
            runbook_url=runbook(ROLLED_BACK),
            signal=canary_status,
            expr=f"{canary_status} == {ext.FLAGGER_STATUS_FAILED}",
            for_="0m",
            severity=WARNING,
            summary=f"Flagger rolled back the {app} canary",
            description=(
                "The last canary analysis of {{ $labels.name }} in {{ $labels.namespace }} "
                "failed and Flagger routed all traffic back to the primary. It stays firing "
                "until the next rollout; see `kubectl -n {{ $labels.namespace }} describe "
                "canary {{ $labels.name }}` for the failed checks."
            ),
        ),
    ]
