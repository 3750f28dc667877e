"""The report's PNG charts, drawn from the live Prometheus with the dashboards'
own expressions (dashboards.queries), as the "order-api / Canary" dashboard
would show the rehearsal; the error-rate and latency charts over the windows
the analysis judged."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt

from dashboards import queries as q
from rehearsal.measure.prometheus_api import PrometheusAPI
from rehearsal.outcome import Outcome
from rehearsal.spec.duration_text import prometheus_duration
from rehearsal.spec.flagger_analysis import Phase

PRIMARY_COLOR, CANARY_COLOR, WEIGHT_COLOR = "#1f77b4", "#ff7f0e", "#2ca02c"
# Points per chart: fine enough to see each tick, small enough for a README.
MAX_POINTS = 300


@dataclass(frozen=True, kw_only=True)
class Series:
    label: str
    expr: str
    color: str | None = None


@dataclass(frozen=True, kw_only=True)
class Chart:
    file: str
    title: str
    unit: str
    series: tuple[Series, ...]
    stacked: bool = False
    overlay: Series | None = None  # drawn as a line on top of a stacked chart
    threshold_metric: str | None = None  # draw this analysis metric's max
    # Rate over this metric's window (what the analysis judged), not $__rate_interval.
    window_metric: str | None = None
    note: str = ""


def _by_track(primary_expr: str, canary_expr: str) -> tuple[Series, Series]:
    """The primary's and the canary's series of one quantity, in the tracks' colours."""
    return (
        Series(label="primary", expr=primary_expr, color=PRIMARY_COLOR),
        Series(label="canary", expr=canary_expr, color=CANARY_COLOR),
    )


CHARTS: tuple[Chart, ...] = (
    Chart(
        file="request-rate.png",
        title="Request rate",
        unit="requests/s",
        series=_by_track(q.REQUEST_RATE_PRIMARY, q.REQUEST_RATE_CANARY),
    ),
    Chart(
        file="total-errors.png",
        title="Total errors since the start",
        unit="responses",
        series=(
            Series(label="4xx", expr=q.TOTAL_4XX, color="#9467bd"),
            Series(label="5xx", expr=q.TOTAL_5XX, color="#d62728"),
        ),
    ),
    Chart(
        file="traffic-split.png",
        title="Traffic split by track (primary / canary pods)",
        unit="% of requests",
        note="by track: at promotion the primary pods run the new version, "
        "so the canary's share drops to 0 while the new version keeps all traffic",
        series=_by_track(q.TRAFFIC_SHARE_PRIMARY, q.TRAFFIC_SHARE_CANARY),
        stacked=True,
        overlay=Series(label="Flagger canary weight", expr=q.CANARY_WEIGHT, color="black"),
    ),
    Chart(
        file="error-rate.png",
        title="Error rate (5xx)",
        unit="%",
        series=_by_track(q.ERROR_RATE_PRIMARY, q.ERROR_RATE_CANARY),
        threshold_metric="error-rate",
        window_metric="error-rate",
    ),
    Chart(
        file="latency-p99.png",
        title="Latency p99",
        unit="ms",
        series=_by_track(q.LATENCY_P99_PRIMARY, q.LATENCY_P99_CANARY),
        threshold_metric="latency-p99",
        window_metric="latency-p99",
        note="p99 of a histogram: interpolated inside its bucket, so a delay is "
        "read near the bucket's upper edge (700 ms reads about 995 ms)",
    ),
    Chart(
        file="canary-weight.png",
        title="Canary weight (flagger_canary_weight)",
        unit="%",
        series=(Series(label="canary weight", expr=q.CANARY_WEIGHT, color=WEIGHT_COLOR),),
    ),
)


def _window_s(chart: Chart, outcome: Outcome, step: float) -> float:
    """The rate window: the gating metric's window at this speed, else Grafana's
    $__rate_interval (max(step + scrape, 4 x scrape))."""
    scrape = outcome.options.scrape_interval_s
    metric = next((m for m in outcome.canary.metrics if m.name == chart.window_metric), None)
    if metric is not None:
        return metric.interval_s / outcome.options.speed
    return max(step + scrape, 4 * scrape)


def _render(expr: str, outcome: Outcome, *, step: float, span: float, window_s: float) -> str:
    return q.render_dashboard_query(
        expr,
        app=outcome.canary.target,
        namespace=outcome.canary.namespace,
        rate_interval=prometheus_duration(window_s),
        range_=prometheus_duration(span),
        interval=prometheus_duration(step),
    )


def _points(
    prometheus: PrometheusAPI, expr: str, *, start: float, end: float, step: float
) -> tuple[list[float], list[float]]:
    series = prometheus.query_range(expr, start=start, end=end, step=step)
    if not series:
        return [], []
    values = series[0][1]
    return [t - start for t, _ in values], [v if math.isfinite(v) else math.nan for _, v in values]


def draw(chart: Chart, outcome: Outcome, prometheus: PrometheusAPI, path: Path) -> dict[str, Any]:
    start = outcome.analysis_started_at
    end = outcome.verdict_at + 2.0
    span = end - start
    step = max(outcome.options.scrape_interval_s, span / MAX_POINTS)
    window_s = _window_s(chart, outcome, step)
    fig, ax = plt.subplots(figsize=(8, 3.4), dpi=90)
    drawn: dict[str, Any] = {
        "file": chart.file,
        "title": chart.title,
        "series": [],
        "window": prometheus_duration(window_s),
    }
    stacked: list[tuple[Series, list[float], list[float]]] = []
    for series in chart.series:
        expr = _render(series.expr, outcome, step=step, span=span, window_s=window_s)
        xs, ys = _points(prometheus, expr, start=start, end=end, step=step)
        drawn["series"].append({"label": series.label, "expr": expr, "points": len(xs)})
        if chart.stacked:
            stacked.append((series, xs, ys))
        else:
            ax.plot(xs, ys, label=series.label, color=series.color, linewidth=1.6)
    if stacked and all(xs for _, xs, _ in stacked):
        shared_xs = stacked[0][1]
        layers: list[list[float]] = [
            [0.0 if math.isnan(v) else v for v in s[2][: len(shared_xs)]] for s in stacked
        ]
        colors: list[Any] = [s[0].color for s in stacked]
        ax.stackplot(
            shared_xs,
            *layers,
            labels=[s[0].label for s in stacked],
            colors=colors,
            alpha=0.55,
        )
    if chart.overlay is not None:
        expr = _render(chart.overlay.expr, outcome, step=step, span=span, window_s=window_s)
        xs, ys = _points(prometheus, expr, start=start, end=end, step=step)
        ax.plot(xs, ys, label=chart.overlay.label, color=chart.overlay.color, linewidth=1.8)
        drawn["series"].append({"label": chart.overlay.label, "expr": expr, "points": len(xs)})
    _load_windows(ax, outcome, span)
    _phases(ax, outcome)
    _ticks(ax, outcome)
    ax.set_ylim(bottom=0)
    _threshold(ax, chart, outcome)
    window = f" [{prometheus_duration(window_s)} window]" if chart.window_metric else ""
    ax.set_title(
        f"{chart.title}{window} — {outcome.canary.name}, {verdict_word(outcome)}", fontsize=10
    )
    ax.set_xlabel("seconds since the analysis started (real time)")
    if chart.note:
        fig.text(0.01, 0.01, chart.note, fontsize=6.5, color="#555555")
    # Flagger's clock: what the same rollout takes in the cluster (on the Flagger
    # engine, production's: its interval over the rehearsal's).
    cluster = outcome.cluster
    minutes = (cluster.production_factor if cluster else outcome.options.speed) / 60

    def to_minutes(x: Any) -> Any:
        return x * minutes

    def to_seconds(m: Any) -> Any:
        return m / minutes

    top = ax.secondary_xaxis("top", functions=(to_minutes, to_seconds))
    top.set_xlabel("production minutes" if cluster else "simulated minutes", fontsize=8)
    top.tick_params(labelsize=8)
    ax.set_ylabel(chart.unit)
    ax.set_xlim(0, span)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, framealpha=0.8, ncols=2)
    fig.tight_layout(rect=(0, 0.04 if chart.note else 0, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return drawn


def verdict_word(outcome: Outcome) -> str:
    if outcome.interrupted:
        return "interrupted (partial)"
    return "promoted" if outcome.promoted else "rolled back"


def _threshold(ax: Any, chart: Chart, outcome: Outcome) -> None:
    """The gate as the metric it gates, labelled inside the frame."""
    metric = next((m for m in outcome.canary.metrics if m.name == chart.threshold_metric), None)
    if metric is None or metric.max is None:
        return
    label = f"gate: {metric.name} <= {metric.max:g} {metric.unit}".rstrip()
    ax.axhline(metric.max, color="#d62728", linestyle="--", linewidth=1, label=label)
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, max(top, metric.max * 1.25))
    ax.annotate(
        label,
        xy=(0.99, metric.max),
        xycoords=("axes fraction", "data"),
        ha="right",
        va="bottom",
        fontsize=7,
        color="#d62728",
    )


def _load_windows(ax: Any, outcome: Outcome, span: float) -> None:
    """Shade where the Canary's load ran: the gaps are where Flagger sees nothing."""
    for i, window in enumerate(outcome.load_windows):
        end = span if window.end_s is None else window.end_s
        ax.axvspan(
            max(0.0, window.start_s),
            end,
            color="#2ca02c",
            alpha=0.07,
            label="load running (hey)" if i == 0 else None,
        )


def _phases(ax: Any, outcome: Outcome) -> None:
    """Promoting and Finalising as spans: the weights move outside the analysis there."""
    colours = {Phase.PROMOTING: "#9467bd", Phase.FINALISING: "#8c564b"}
    for record in outcome.ticks:
        phase = record.transition.after.phase
        if phase in colours:
            ax.axvspan(
                record.real_s,
                record.real_s + outcome.canary.interval_s / outcome.options.speed,
                color=colours[phase],
                alpha=0.12,
                label=str(phase),
            )


def _ticks(ax: Any, outcome: Outcome) -> None:
    """A faint line per analysis tick; red where a check failed, bold at the verdict."""
    failed_labelled = passed_labelled = False
    for record in outcome.ticks[:-1]:
        failed = record.transition.passed is False
        label = None
        if failed and not failed_labelled:
            label, failed_labelled = "tick: check failed", True
        elif not failed and not passed_labelled:
            label, passed_labelled = "tick", True
        ax.axvline(
            record.real_s,
            color="#d62728" if failed else "grey",
            alpha=0.6 if failed else 0.25,
            linewidth=0.8,
            label=label,
        )
    if outcome.ticks:
        ax.axvline(
            outcome.ticks[-1].real_s,
            color="black",
            linewidth=1.2,
            label=f"verdict: {verdict_word(outcome)}",
        )
