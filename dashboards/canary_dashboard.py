"""The "order-api / Canary" Grafana dashboard (grafanalib).

Every expression comes from `dashboards.queries`; this module only lays them
out. grafanalib 0.7.1 quirks handled here: thresholds are passed as plain
dicts (its Threshold emits the base value as the string "null" and Stat's
default steps are an empty *string*), Stat's `noValue` defaults to the text
"none", its colour mode defaults to null, and panels default to editable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grafanalib import core as g

from dashboards import external_metrics as ext
from dashboards import queries as q
from order_api import telemetry
from stack.config import StackConfig
from stack.names import CANARY, PRIMARY

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24

GREEN, RED, BLUE = "green", "red", "blue"


def _target(
    expr: str, legend: str, ref: str, *, app: str, instant: bool = False, table: bool = False
) -> g.Target:
    return g.Target(
        expr=q.for_app(expr, app),
        legendFormat=legend,
        refId=ref,
        instant=instant or table,
        format="table" if table else "time_series",
        datasource=DATASOURCE,
    )


def _steps(*limits: tuple[str, float]) -> list[dict[str, Any]]:
    """Threshold steps; the base step's value must be JSON null."""
    return [{"color": GREEN, "value": None}] + [
        {"color": color, "value": value} for color, value in limits
    ]


def _timeseries(
    title: str,
    description: str,
    unit: str,
    targets: list[g.Target],
    pos: tuple[int, int, int, int],
    *,
    limit: tuple[str, float] | None = None,
    **extra: Any,
) -> g.TimeSeries:
    x, y, w, h = pos
    return g.TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=targets,
        unit=unit,
        gridPos=g.GridPos(h=h, w=w, x=x, y=y),
        editable=False,
        thresholds=_steps(limit) if limit else _steps(),
        # A threshold that is an analysis gate is drawn as a line.
        thresholdsStyleMode="line" if limit else "off",
        legendDisplayMode="table",
        legendPlacement="bottom",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        **extra,
    )


def _stat(
    title: str,
    description: str,
    unit: str,
    targets: list[g.Target],
    pos: tuple[int, int, int, int],
    *,
    steps: list[dict[str, Any]] | None = None,
    mappings: Sequence[dict[str, Any]] = (),
    no_value: str = "0",
) -> g.Stat:
    x, y, w, h = pos
    return g.Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=targets,
        format=unit,
        gridPos=g.GridPos(h=h, w=w, x=x, y=y),
        editable=False,
        thresholds=steps or _steps(),
        color={"mode": "thresholds"},
        mappings=list(mappings),
        noValue=no_value,
        reduceCalc="lastNotNull",
        graphMode="none",
        textMode="value_and_name",
    )


def _phase_mappings() -> list[dict[str, Any]]:
    options = {
        str(ext.FLAGGER_STATUS_PROGRESSING): {"text": "Progressing", "color": BLUE, "index": 0},
        str(ext.FLAGGER_STATUS_SUCCEEDED): {"text": "Succeeded / idle", "color": GREEN, "index": 1},
        str(ext.FLAGGER_STATUS_FAILED): {"text": "Failed (rolled back)", "color": RED, "index": 2},
    }
    return [{"type": "value", "options": options}]


def _status_panels(config: StackConfig) -> list[g.Panel]:
    app, canary = config.app.name, config.canary
    steps = (f"steps {', '.join(map(str, canary.step_weights))}%" if canary.step_weights
             else f"step {canary.step_weight}%")  # fmt: skip
    return [
        _stat(
            "Canary Phase",
            f"Flagger's last known state of this Canary ({ext.FLAGGER_CANARY_STATUS}): Progressing "
            "while the analysis runs, Failed after a rollback; every other phase "
            "(Initialized, Promoting, Succeeded) is reported as 1. The failed-check count is "
            "not exported by Flagger: see `kubectl describe canary`.",
            "none",
            [_target(q.CANARY_PHASE, "phase", "A", app=app, instant=True)],
            (0, 0, 4, 5),
            steps=_steps((RED, ext.FLAGGER_STATUS_FAILED)),
            mappings=_phase_mappings(),
            no_value="no Flagger data",
        ),
        _stat(
            "Canary Weight",
            "Percent of traffic Flagger currently routes to the canary "
            f"({ext.FLAGGER_CANARY_WEIGHT} "
            f"of workload {app}); max is {canary.effective_max_weight}%, {steps}.",
            "percent",
            [_target(q.CANARY_WEIGHT, "canary weight", "A", app=app, instant=True)],
            (4, 0, 4, 5),
            no_value="no Flagger data",
        ),
        _stat(
            "Total Errors",
            "4xx (client errors, e.g. invalid orders) and 5xx (server errors) answered by "
            "primary and canary together over the selected time range. Probes and scrapes "
            "are excluded.",
            "short",
            [
                _target(q.TOTAL_4XX, "4xx", "A", app=app, instant=True),
                _target(q.TOTAL_5XX, "5xx", "B", app=app, instant=True),
            ],
            (8, 0, 8, 5),
            steps=_steps(("orange", 1)),
        ),
        _stat(
            "Rollouts",
            "Canary analyses Flagger finished in the selected range: promoted "
            f"({ext.FLAGGER_CANARY_SUCCESSES_TOTAL}) and rolled back "
            f"({ext.FLAGGER_CANARY_FAILURES_TOTAL}). Flagger creates these counters at 1, so "
            "a counter born inside the range counts with its value.",
            "short",
            [
                _target(q.CANARY_PROMOTIONS, "promoted", "A", app=app, instant=True),
                _target(q.CANARY_ROLLBACKS, "rolled back", "B", app=app, instant=True),
            ],
            (16, 0, 8, 5),
        ),
    ]


def _traffic_panels(config: StackConfig) -> list[g.Panel]:
    app = config.app.name
    return [
        _timeseries(
            "Request Rate",
            "API requests per second answered by the primary and the canary, from the apps' "
            f"own {telemetry.REQUESTS_TOTAL} (health, readiness and metrics scrapes excluded).",
            "reqps",
            [
                _target(q.REQUEST_RATE_PRIMARY, PRIMARY, "A", app=app),
                _target(q.REQUEST_RATE_CANARY, CANARY, "B", app=app),
            ],
            (0, 5, 12, 8),
        ),
        _timeseries(
            "Request Rate by Status Class",
            "API requests per second of primary and canary together, by status class "
            "(2xx, 3xx, 4xx, 5xx).",
            "reqps",
            [_target(q.REQUEST_RATE_BY_STATUS_CLASS, f"{{{{{q.STATUS_CLASS}}}}}", "A", app=app)],
            (12, 5, 12, 8),
        ),
        _timeseries(
            "Traffic Split by Version",
            "Observed share of API requests answered by primary and canary (stacked to 100%), "
            "with Flagger's intended canary weight "
            f"({ext.FLAGGER_CANARY_WEIGHT}) as a dashed line. "
            "The observed canary share follows the weight when all traffic passes the router.",
            "percent",
            [
                _target(q.TRAFFIC_SHARE_PRIMARY, PRIMARY, "A", app=app),
                _target(q.TRAFFIC_SHARE_CANARY, CANARY, "B", app=app),
                _target(q.CANARY_WEIGHT, "Flagger canary weight", "C", app=app),
            ],
            (0, 13, 12, 8),
            stacking={"mode": "normal", "group": "A"},
            fillOpacity=40,
            valueMin=0,
            valueMax=100,
            overrides=[_dashed_unstacked("C")],
        ),
    ]


def _dashed_unstacked(ref: str) -> dict[str, Any]:
    """An overlay line drawn over a stacked chart, not part of the stack."""
    return {
        "matcher": {"id": "byFrameRefID", "options": ref},
        "properties": [
            {"id": "custom.stacking", "value": {"mode": "none", "group": "A"}},
            {"id": "custom.fillOpacity", "value": 0},
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "custom.lineWidth", "value": 2},
        ],
    }


def _gate_panels(config: StackConfig) -> list[g.Panel]:
    app, canary = config.app.name, config.canary
    latency_targets = [
        _target(expr, f"{track} p{quantile}", ref, app=app)
        for ref, (track, quantile, expr) in zip(
            "ABCDEF",
            [
                (PRIMARY, 50, q.LATENCY_P50_PRIMARY),
                (PRIMARY, 95, q.LATENCY_P95_PRIMARY),
                (PRIMARY, 99, q.LATENCY_P99_PRIMARY),
                (CANARY, 50, q.LATENCY_P50_CANARY),
                (CANARY, 95, q.LATENCY_P95_CANARY),
                (CANARY, 99, q.LATENCY_P99_CANARY),
            ],
            strict=True,
        )
    ]
    return [
        _timeseries(
            "Error Rate %",
            "5xx answers / all API requests * 100, per track. 0 (not a gap) when a track "
            "answers without errors; empty only while a track gets no requests at all. The "
            f"red line is the canary's error-rate gate ({canary.error_rate_max_percent:g}%).",
            "percent",
            [
                _target(q.ERROR_RATE_PRIMARY, PRIMARY, "A", app=app),
                _target(q.ERROR_RATE_CANARY, CANARY, "B", app=app),
            ],
            (12, 13, 12, 8),
            limit=(RED, canary.error_rate_max_percent),
            valueMin=0,
        ),
        _timeseries(
            "Latency p50 / p95 / p99",
            "API request latency quantiles per track from the apps' histogram "
            f"({telemetry.REQUEST_LATENCY}). The red line is the canary latency threshold "
            f"({canary.latency_max_ms} ms, canary.latency_max_ms).",
            "ms",
            latency_targets,
            (0, 21, 12, 8),
            limit=(RED, canary.latency_max_ms),
            valueMin=0,
        ),
    ]


def _router_panel(config: StackConfig) -> g.Panel:
    app = config.app.name
    return _timeseries(
        "Router: Requests to Primary and Canary",
        "Requests per second Traefik sent to the primary and canary services Flagger "
        f"generates ({ext.TRAEFIK_SERVICE_REQUESTS_TOTAL}, service "
        "<namespace>-<app>-primary|canary-<port>@provider). Only traffic through the "
        "ingress counts here: this is what Flagger's built-in checks see.",
        "reqps",
        [
            _target(q.ROUTER_RATE_PRIMARY, PRIMARY, "A", app=app),
            _target(q.ROUTER_RATE_CANARY, CANARY, "B", app=app),
        ],
        (12, 21, 12, 8),
    )


def _analysis_table(config: StackConfig) -> g.Panel:
    canary = config.canary
    return g.Table(
        title="Canary Analysis: Last Metric Values",
        description="The value each analysis metric returned at Flagger's last check "
        f"({ext.FLAGGER_CANARY_METRIC_ANALYSIS}), each row in the unit of its `unit` column: "
        "request-success-rate and error-rate in %, request-duration and latency-p99 in ms "
        "(Flagger records request-duration in seconds; the table multiplies it by 1000). "
        f"Gates: success rate >= {canary.success_rate_min_percent:g}%, request-duration and "
        f"p99 <= {canary.latency_max_ms} ms, error rate <= {canary.error_rate_max_percent:g}%.",
        dataSource=DATASOURCE,
        targets=[_target(q.CANARY_ANALYSIS_TABLE, "", "A", app=config.app.name, table=True)],
        unit="none",
        overrides=[
            {
                "matcher": {"id": "byName", "options": "value"},
                "properties": [{"id": "decimals", "value": 2}],
            }
        ],
        gridPos=g.GridPos(h=6, w=GRID_WIDTH, x=0, y=29),
        editable=False,
        thresholds=_steps(),
        transformations=[
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "indexByName": {ext.FLAGGER_METRIC: 0, "Value": 1, q.ANALYSIS_UNIT_LABEL: 2},
                    "renameByName": {"Value": "value"},
                },
            }
        ],
    )


def panels(config: StackConfig) -> list[g.Panel]:
    return [
        *_status_panels(config),
        *_traffic_panels(config),
        *_gate_panels(config),
        _router_panel(config),
        _analysis_table(config),
    ]


def templating(config: StackConfig) -> g.Templating:
    datasource = g.Template(
        name="datasource",
        label="Data source",
        query="prometheus",
        type="datasource",
        default=config.monitoring.datasource_uid,
    )
    namespace = g.Template(
        name="namespace",
        label="Namespace",
        # Namespaces where an order-api reports its build: one per deployment.
        query=f"label_values({telemetry.BUILD_INFO}, {q.NAMESPACE_LABEL})",
        dataSource=DATASOURCE,
        default=config.namespace,
        refresh=g.REFRESH_ON_DASHBOARD_LOAD,
    )
    return g.Templating(list=[datasource, namespace])


def uid(config: StackConfig) -> str:
    return f"{config.app.name}-canary"


def title(config: StackConfig) -> str:
    return f"{config.app.name} / Canary"


def dashboard(config: StackConfig) -> g.Dashboard:
    app = config.app.name
    return g.Dashboard(
        title=title(config),
        uid=uid(config),
        description=f"Primary vs canary of {app} during a Flagger rollout: RED metrics, "
        "traffic split, router view and Flagger's analysis.",
        tags=[app, "canary", "flagger"],
        editable=False,
        timezone="utc",
        refresh="30s",
        schemaVersion=39,
        time=g.Time("now-30m", "now"),
        templating=templating(config),
        panels=panels(config),
    ).auto_panel_ids()
