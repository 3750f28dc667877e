"""report.json (every tick and metric value), report.md and PNG charts.

The charts are drawn from the live Prometheus over the rehearsal with the
dashboards' own expressions (dashboards.queries), rendered as Grafana would
render them, so they show what the "order-api / Canary" dashboard would show.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt

from dashboards import queries as q
from rehearsal.durations import human, prometheus_duration
from rehearsal.prometheus import Prometheus
from rehearsal.run import Outcome, TickRecord

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


CHARTS: tuple[Chart, ...] = (
    Chart(
        file="request-rate.png",
        title="Request rate",
        unit="requests/s",
        series=(
            Series(label="primary", expr=q.REQUEST_RATE_PRIMARY, color=PRIMARY_COLOR),
            Series(label="canary", expr=q.REQUEST_RATE_CANARY, color=CANARY_COLOR),
        ),
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
        title="Traffic split by version",
        unit="% of requests",
        series=(
            Series(label="primary", expr=q.TRAFFIC_SHARE_PRIMARY, color=PRIMARY_COLOR),
            Series(label="canary", expr=q.TRAFFIC_SHARE_CANARY, color=CANARY_COLOR),
        ),
        stacked=True,
        overlay=Series(label="Flagger canary weight", expr=q.CANARY_WEIGHT, color="black"),
    ),
    Chart(
        file="error-rate.png",
        title="Error rate (5xx)",
        unit="%",
        series=(
            Series(label="primary", expr=q.ERROR_RATE_PRIMARY, color=PRIMARY_COLOR),
            Series(label="canary", expr=q.ERROR_RATE_CANARY, color=CANARY_COLOR),
        ),
        threshold_metric="error-rate",
    ),
    Chart(
        file="latency-p99.png",
        title="Latency p99",
        unit="ms",
        series=(
            Series(label="primary", expr=q.LATENCY_P99_PRIMARY, color=PRIMARY_COLOR),
            Series(label="canary", expr=q.LATENCY_P99_CANARY, color=CANARY_COLOR),
        ),
        threshold_metric="request-duration",
    ),
    Chart(
        file="canary-weight.png",
        title="Canary weight (flagger_canary_weight)",
        unit="%",
        series=(Series(label="canary weight", expr=q.CANARY_WEIGHT, color=WEIGHT_COLOR),),
    ),
)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def tick_json(record: TickRecord) -> dict[str, Any]:
    t = record.transition
    return {
        "tick": record.tick,
        "real_s": round(record.real_s, 3),
        "simulated_s": record.simulated_s,
        "phase_before": str(t.before.phase),
        "phase": str(t.after.phase),
        "canary_weight": t.after.canary_weight,
        "primary_weight": t.after.primary_weight,
        "failed_checks": t.after.failed_checks,
        "stage": str(t.stage) if t.stage else None,
        "passed": t.passed,
        "action": str(t.action),
        "event": t.event,
        "hooks": [asdict(h) for h in record.hooks],
        "metrics": [
            {
                "name": m.name,
                "value": _finite(m.value),
                "min": m.min,
                "max": m.max,
                "passed": m.passed,
                "verdict": m.verdict,
                "query": m.query,
            }
            for m in record.metrics
        ],
        "load": asdict(record.load) | {"failed": record.load.failed},
        "routes": record.routes,
    }


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    c, o = outcome.canary, outcome.options
    return {
        "canary": {
            "name": c.name,
            "namespace": c.namespace,
            "source": c.source.name,
            "interval": c.interval,
            "threshold": c.threshold,
            "step_weight": c.step_weight,
            "step_weights": list(c.step_weights),
            "max_weight": c.max_weight,
            "metrics": [
                {
                    "name": m.name,
                    "interval": m.interval,
                    "min": m.min,
                    "max": m.max,
                    "template": m.template.name if m.template else None,
                }
                for m in c.metrics
            ],
            "webhooks": [{"name": w.name, "type": w.type} for w in c.webhooks],
        },
        "options": {
            "speed": o.speed,
            "rate": o.rate,
            "scrape_interval_s": o.scrape_interval_s,
            "host": o.host,
            "primary": {"version": o.primary.version, "env": dict(o.primary.env)},
            "canary": {"version": o.canary.version, "env": dict(o.canary.env)},
        },
        "verdict": "promoted" if outcome.promoted else "rolled back",
        "phase": str(outcome.phase),
        "durations": {
            "startup_s": round(outcome.startup_s, 3),
            "real_s": round(outcome.real_s, 3),
            "simulated_s": outcome.simulated_s,
        },
        "max_canary_weight": outcome.max_canary_weight,
        "ticks": [tick_json(t) for t in outcome.ticks],
        "load_total": asdict(outcome.load_total) | {"failed": outcome.load_total.failed},
        "after_verdict": asdict(outcome.after_verdict) | {"failed": outcome.after_verdict.failed},
        "final_routes": outcome.final_routes,
    }


def _render(expr: str, outcome: Outcome, *, step: float, span: float) -> str:
    rate_interval = max(
        step + outcome.options.scrape_interval_s, 4 * outcome.options.scrape_interval_s
    )
    return q.render_dashboard_query(
        expr,
        app=outcome.canary.target,
        namespace=outcome.canary.namespace,
        rate_interval=prometheus_duration(rate_interval),
        range_=prometheus_duration(span),
        interval=prometheus_duration(step),
    )


def _points(
    prometheus: Prometheus, expr: str, *, start: float, end: float, step: float
) -> tuple[list[float], list[float]]:
    series = prometheus.query_range(expr, start=start, end=end, step=step)
    if not series:
        return [], []
    values = series[0][1]
    return [t - start for t, _ in values], [v if math.isfinite(v) else math.nan for _, v in values]


def draw(chart: Chart, outcome: Outcome, prometheus: Prometheus, path: Path) -> dict[str, Any]:
    start = outcome.analysis_started_at
    end = outcome.verdict_at + 2.0
    span = end - start
    step = max(outcome.options.scrape_interval_s, span / MAX_POINTS)
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=90)
    drawn: dict[str, Any] = {"file": chart.file, "title": chart.title, "series": []}
    stacked: list[tuple[Series, list[float], list[float]]] = []
    for series in chart.series:
        expr = _render(series.expr, outcome, step=step, span=span)
        xs, ys = _points(prometheus, expr, start=start, end=end, step=step)
        drawn["series"].append({"label": series.label, "expr": expr, "points": len(xs)})
        if chart.stacked:
            stacked.append((series, xs, ys))
        else:
            ax.plot(xs, ys, label=series.label, color=series.color, linewidth=1.6)
    if stacked and all(xs for _, xs, _ in stacked):
        xs = stacked[0][1]
        ys = [[0.0 if math.isnan(v) else v for v in s[2][: len(xs)]] for s in stacked]
        ax.stackplot(
            xs,
            *ys,
            labels=[s[0].label for s in stacked],
            colors=[s[0].color for s in stacked],
            alpha=0.55,
        )
    if chart.overlay is not None:
        expr = _render(chart.overlay.expr, outcome, step=step, span=span)
        xs, ys = _points(prometheus, expr, start=start, end=end, step=step)
        ax.plot(xs, ys, label=chart.overlay.label, color=chart.overlay.color, linewidth=1.8)
        drawn["series"].append({"label": chart.overlay.label, "expr": expr, "points": len(xs)})
    _threshold(ax, chart, outcome)
    _ticks(ax, outcome)
    ax.set_title(f"{chart.title} — {outcome.canary.name}, {_verdict(outcome)}", fontsize=10)
    ax.set_xlabel("seconds since the analysis started (real time)")
    # Flagger's clock: what the same rollout takes in the cluster.
    minutes = outcome.options.speed / 60
    top = ax.secondary_xaxis("top", functions=(lambda x: x * minutes, lambda m: m / minutes))
    top.set_xlabel("simulated minutes", fontsize=8)
    top.tick_params(labelsize=8)
    ax.set_ylabel(chart.unit)
    ax.set_xlim(0, span)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return drawn


def _verdict(outcome: Outcome) -> str:
    return "promoted" if outcome.promoted else "rolled back"


def _threshold(ax: Any, chart: Chart, outcome: Outcome) -> None:
    metric = next((m for m in outcome.canary.metrics if m.name == chart.threshold_metric), None)
    if metric is not None and metric.max is not None:
        ax.axhline(metric.max, color="#d62728", linestyle="--", linewidth=1)
        ax.annotate(
            f"{metric.name} max {metric.max:g}",
            xy=(0.99, metric.max),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=7,
            color="#d62728",
        )


def _ticks(ax: Any, outcome: Outcome) -> None:
    """A faint line per analysis tick; red where a check failed, bold at the verdict."""
    for record in outcome.ticks:
        failed = record.transition.passed is False
        ax.axvline(
            record.real_s,
            color="#d62728" if failed else "grey",
            alpha=0.5 if failed else 0.2,
            linewidth=0.8,
        )
    if outcome.ticks:
        ax.axvline(outcome.ticks[-1].real_s, color="black", linewidth=1.2)


def markdown(outcome: Outcome, charts: Sequence[dict[str, Any]]) -> str:
    c, o = outcome.canary, outcome.options
    metric_names = [m.name for m in c.metrics_in_flagger_order()]
    lines = [
        f"# Canary rehearsal: {c.namespace}/{c.name} — {_verdict(outcome)}",
        "",
        f"- Verdict: **{_verdict(outcome)}** (phase {outcome.phase}) after {len(outcome.ticks)} "
        f"ticks; canary weight peaked at {outcome.max_canary_weight}%.",
        f"- Canary from `{c.source.name}`: interval {c.interval}, threshold {c.threshold}, "
        f"stepWeight {c.step_weight}, maxWeight {c.max_weight}.",
        f"- Primary {o.primary.version}; canary {o.canary.version} "
        f"{dict(o.canary.env) or '(no faults)'}.",
        f"- Simulated {human(outcome.simulated_s)} in {human(outcome.real_s)} real at speed "
        f"{o.speed:g} (+{human(outcome.startup_s)} start-up); scrape interval "
        f"{o.scrape_interval_s:g}s; load {o.rate:g} orders/s through Traefik (Host {o.host}).",
        f"- Load generator: {outcome.load_total.sent} orders, {outcome.load_total.failed} failed; "
        f"by status {outcome.load_total.by_status}; by version {outcome.load_total.by_version}; "
        f"skipped {outcome.load_total.skipped}.",
        f"- After the verdict: by version {outcome.after_verdict.by_version}; Traefik weights "
        f"{outcome.final_routes}.",
        "",
        "| tick | real | simulated | phase | weight | "
        + " | ".join(metric_names)
        + " | failed checks | event |",
        "|---:|---:|---:|---|---:|" + "---|" * len(metric_names) + "---:|---|",
    ]
    for record in outcome.ticks:
        after = record.transition.after
        values = {m.name: m.verdict + ("" if m.passed else " ✗") for m in record.metrics}
        hooks = "; ".join(f"{h.name}: {'ok' if h.passed else 'failed'}" for h in record.hooks)
        event = record.transition.event + (f" ({hooks})" if hooks else "")
        lines.append(
            f"| {record.tick} | {human(record.real_s)} | {human(record.simulated_s)} | "
            f"{after.phase} | {after.canary_weight}% | "
            + " | ".join(values.get(n, "") for n in metric_names)
            + f" | {after.failed_checks}/{c.threshold} | {event} |"
        )
    lines += ["", "## Charts", ""]
    for chart in charts:
        lines += [f"![{chart['title']}]({chart['file']})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write(directory: Path, outcome: Outcome, prometheus: Prometheus) -> list[Path]:
    """Write the report files into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    charts = [draw(chart, outcome, prometheus, directory / chart.file) for chart in CHARTS]
    data = outcome_json(outcome) | {"charts": charts}
    json_path = directory / "report.json"
    json_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    md_path = directory / "report.md"
    md_path.write_text(markdown(outcome, charts))
    return [json_path, md_path, *(directory / chart.file for chart in CHARTS)]
