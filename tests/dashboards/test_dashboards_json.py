"""Structural checks of every generated dashboard (the JSON users import)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dashboards import canary_dashboard, export
from dashboards import external_metrics as ext
from dashboards import queries as q
from dashboards.analysis import analysis_metrics
from order_api import telemetry
from stack.config import ENV_PREFIX, load_config
from stack.names import REQUEST_DURATION, AppNames
from tests.support.prerequisites import require_binary

ROOT = Path(__file__).resolve().parents[2]
PANEL_TYPES = {"timeseries", "stat", "table"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Counters and histogram buckets: only ever inside rate()/increase().
COUNTER = re.compile(r"\b([a-z_:]+_(?:total|bucket))\{")
# A counter's raw value is read only where a series born in the range counts
# with its value (queries.events_in_range).
RANGE_FUNC = re.compile(r"\b(rate|increase|irate|last_over_time)\(|\bunless $")


@pytest.fixture(scope="module")
def texts(config) -> dict[str, str]:
    return export.dashboards_json(config)


@pytest.fixture(scope="module")
def dashboards(texts) -> dict[str, dict]:
    return {name: json.loads(text) for name, text in texts.items()}


def all_panels(dashboards):
    return [(name, p) for name, d in dashboards.items() for p in d["panels"]]


def all_exprs(dashboards) -> list[str]:
    return [t["expr"] for _, p in all_panels(dashboards) for t in p["targets"]]


def test_json_is_stable_and_canonical(config, texts):
    assert export.dashboards_json(config) == texts
    for name, text in texts.items():
        assert name.endswith(".json")
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_dist_holds_the_same_json(texts):
    """dist/dashboards/ (what users import, written by `make synth` and
    `make dashboards`) is byte-identical to a fresh build."""
    dist = ROOT / "dist" / "dashboards"
    for name, text in texts.items():
        path = dist / name
        assert path.exists(), f"{path.relative_to(ROOT)} missing: run `make synth`"
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run `make synth`"


def test_cli_writes_the_same_files(tmp_path, texts, monkeypatch):
    # The defaults, whatever stack overrides the caller's shell sets.
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    assert export.main(["--out", str(tmp_path)]) == 0
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == texts


def test_dashboard_identity(config, dashboards):
    d = dashboards["order-api-canary.json"]
    assert d["title"] == "order-api / Canary" == canary_dashboard.title(config)
    assert d["uid"] == canary_dashboard.uid(config)
    assert d["editable"] is False
    assert d["id"] is None


def test_variables(config, dashboards):
    for d in dashboards.values():
        variables = {v["name"]: v for v in d["templating"]["list"]}
        assert set(variables) == {"datasource", "namespace"}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        ns = variables["namespace"]
        assert ns["current"]["value"] == config.namespace == "sre-demo"
        assert ns["datasource"] == DATASOURCE
        assert telemetry.BUILD_INFO in ns["query"]


def test_every_panel_is_complete(dashboards):
    for name, panel in all_panels(dashboards):
        where = f"{name}: {panel['title']}"
        assert panel["type"] in PANEL_TYPES, where
        assert panel["description"].strip(), where
        assert panel["fieldConfig"]["defaults"]["unit"] not in ("", None), where
        assert panel["datasource"] == DATASOURCE, where
        # Per-panel `editable` is gone from Grafana's model: the dashboard's own applies.
        assert "editable" not in panel, where
        assert panel["targets"], where
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, where
            assert target["expr"].strip(), where


def test_thresholds_have_a_null_base(texts, dashboards):
    for text in texts.values():
        assert '"null"' not in text
    for name, panel in all_panels(dashboards):
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert isinstance(steps, list) and steps, (name, panel["title"])
        assert steps[0]["value"] is None, (name, panel["title"])


def test_panels_fit_the_grid_without_overlap(dashboards):
    for name, d in dashboards.items():
        boxes = []
        for panel in d["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] > 0 and pos["h"] > 0
            assert pos["x"] + pos["w"] <= 24, (name, panel["title"])
            boxes.append((panel["title"], pos))
        for (a, p), (b, r) in itertools.combinations(boxes, 2):
            apart = (
                p["x"] + p["w"] <= r["x"]
                or r["x"] + r["w"] <= p["x"]
                or p["y"] + p["h"] <= r["y"]
                or r["y"] + r["h"] <= p["y"]
            )
            assert apart, f"{name}: {a!r} overlaps {b!r}"
        ids = [p["id"] for p in d["panels"]]
        assert len(set(ids)) == len(ids)


def test_every_rate_uses_rate_interval_and_no_raw_counters(dashboards):
    for expr in all_exprs(dashboards):
        for match in re.finditer(r"\b(rate|irate)\([^\[]*\[([^\]]+)\]", expr):
            assert match.group(2) == "$__rate_interval", expr
        for match in re.finditer(r"\bincrease\([^\[]*\[([^\]]+)\]", expr):
            assert match.group(1) == "$__range", expr
        for match in COUNTER.finditer(expr):
            before = expr[: match.start()]
            assert RANGE_FUNC.search(before[-16:]), f"raw counter {match.group(1)} in {expr}"
        assert "$app" not in expr, expr
        assert "irate(" not in expr, expr


def _panel(dashboards, title):
    panels = [p for _, p in all_panels(dashboards) if p["title"] == title]
    assert len(panels) == 1, title
    return panels[0]


def _exprs(panel) -> dict[str, str]:
    return {t["legendFormat"]: t["expr"] for t in panel["targets"]}


def test_the_panels_issue_4_asks_for(config, dashboards):
    app = config.app.name
    request_rate = _exprs(_panel(dashboards, "Request Rate"))
    assert request_rate == {
        "primary": q.for_app(q.REQUEST_RATE_PRIMARY, app),
        "canary": q.for_app(q.REQUEST_RATE_CANARY, app),
    }
    assert 'app="order-api-primary"' in request_rate["primary"]
    assert 'app="order-api"' in request_rate["canary"]
    by_class = _panel(dashboards, "Request Rate by Status Class")
    assert by_class["targets"][0]["legendFormat"] == "{{status_class}}"

    errors = _panel(dashboards, "Total Errors")
    assert errors["type"] == "stat"
    totals = _exprs(errors)
    assert set(totals) == {"4xx", "5xx"}
    assert 'status=~"4.."' in totals["4xx"] and 'status=~"5.."' in totals["5xx"]
    assert all("[$__range]" in e and e.endswith("or vector(0)") for e in totals.values())

    split = _panel(dashboards, "Traffic Split by Version")
    assert split["fieldConfig"]["defaults"]["unit"] == "percent"
    assert split["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"
    assert split["fieldConfig"]["defaults"]["max"] == 100
    weight = [t for t in split["targets"] if ext.FLAGGER_CANARY_WEIGHT in t["expr"]]
    assert len(weight) == 1 and f'{ext.FLAGGER_WORKLOAD}="{app}"' in weight[0]["expr"]
    (override,) = split["fieldConfig"]["overrides"]
    assert override["matcher"] == {"id": "byFrameRefID", "options": weight[0]["refId"]}
    props = {p["id"]: p["value"] for p in override["properties"]}
    assert props["custom.stacking"]["mode"] == "none"

    error_rate = _panel(dashboards, "Error Rate %")
    exprs = _exprs(error_rate)
    assert set(exprs) == {"primary", "canary"}
    for expr in exprs.values():
        # Defined (0) without errors, never NaN (empty only without requests).
        assert "or vector(0)" in expr and "> 0)" in expr
    steps = error_rate["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == config.canary.error_rate_max_percent

    latency = _panel(dashboards, "Latency p50 / p95 / p99")
    assert latency["fieldConfig"]["defaults"]["unit"] == "ms"
    assert set(_exprs(latency)) == {
        f"{track} p{n}" for track in ("primary", "canary") for n in (50, 95, 99)
    }
    defaults = latency["fieldConfig"]["defaults"]
    assert defaults["thresholds"]["steps"][-1]["value"] == config.canary.latency_max_ms
    assert defaults["custom"]["thresholdsStyle"]["mode"] == "line"

    router = _exprs(_panel(dashboards, "Router: Requests to Primary and Canary"))
    assert router["primary"].count(ext.TRAEFIK_SERVICE_REQUESTS_TOTAL) == 1
    assert 'service=~"$namespace-order-api-primary-.*"' in router["primary"]
    assert 'service=~"$namespace-order-api-canary-.*"' in router["canary"]

    phase = _panel(dashboards, "Canary Phase")
    assert ext.FLAGGER_CANARY_STATUS in phase["targets"][0]["expr"]
    shown = {o["text"] for o in phase["fieldConfig"]["defaults"]["mappings"][0]["options"].values()}
    assert {"Progressing", "Failed (rolled back)"} <= shown
    table = _panel(dashboards, "Canary Analysis: Last Metric Values")
    assert ext.FLAGGER_CANARY_METRIC_ANALYSIS in table["targets"][0]["expr"]


@pytest.mark.parametrize(
    ("expr", "router_regex"),
    [
        ("sre-demo-order-api-primary-80@kubernetescrd", "primary"),
        ("sre-demo-order-api-canary-80@kubernetescrd", "canary"),
        ("sre-demo-order-api-canary-8080@file", "canary"),
    ],
)
def test_router_regex_matches_cluster_and_rehearsal_services(expr, router_regex):
    regex = ext.traefik_service_regex(
        AppNames(name="order-api", namespace="sre-demo"), router_regex
    )
    assert re.fullmatch(regex, expr)
    assert not re.fullmatch(regex, "sre-demo-order-api@kubernetescrd")


def test_every_expression_parses(tmp_path, config, dashboards):
    """promtool parses each expression (Grafana variables substituted)."""
    promtool = require_binary("promtool", "make toolchain")
    rendered = [
        q.render_dashboard_query(
            e, app="x", namespace="sre-demo", rate_interval="1m", range_="1h", interval="15s"
        )
        for e in all_exprs(dashboards)
    ]
    rules = [{"record": f"check:expr_{i}:parse", "expr": e} for i, e in enumerate(rendered)]
    path = tmp_path / "exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "parse", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_analysis_table_shows_each_row_in_its_unit(config, dashboards):
    """Flagger records request-duration in seconds, the others in their own units:
    every row carries its unit, and request-duration is scaled to ms."""
    table = _panel(dashboards, "Canary Analysis: Last Metric Values")
    (target,) = table["targets"]
    assert target["expr"] == q.for_app(q.CANARY_ANALYSIS_TABLE, config.app.name)
    rows = {name: (factor, unit) for name, factor, unit in q.ANALYSIS_DISPLAY}
    assert set(rows) == {m.name for m in analysis_metrics(config)}
    assert rows[REQUEST_DURATION] == (1000, "ms")
    for name, (_factor, unit) in rows.items():
        assert f'{ext.FLAGGER_METRIC}="{name}"' in target["expr"]
        assert f'"{q.ANALYSIS_UNIT_LABEL}", "{unit}"' in target["expr"]
    assert "request-duration in ms" not in table["description"]
    assert "seconds" in table["description"]
    organize = table["transformations"][0]["options"]
    assert organize["indexByName"][q.ANALYSIS_UNIT_LABEL] == 2


def test_names_follow_the_app_name():
    config = load_config({"ORDER_API_SRE_APP__NAME": "shop"})
    ((name, text),) = export.dashboards_json(config).items()
    d = json.loads(text)
    assert (name, d["uid"], d["title"]) == ("shop-canary.json", "shop-canary", "shop / Canary")
    assert "order-api" not in text


def test_dashboard_follows_the_config():
    config = load_config(
        {"ORDER_API_SRE_NAMESPACE": "shop", "ORDER_API_SRE_CANARY__LATENCY_MAX_MS": "250"}
    )
    d = json.loads(export.dashboards_json(config)["order-api-canary.json"])
    ns = next(v for v in d["templating"]["list"] if v["name"] == "namespace")
    assert ns["current"]["value"] == "shop"
    latency = next(p for p in d["panels"] if p["title"].startswith("Latency"))
    assert latency["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 250


def test_cli_reports_bad_config_without_a_traceback(tmp_path):
    env = {**os.environ, "ORDER_API_SRE_CANARY__LATENCY_MAX_MS": "fast"}
    result = subprocess.run(
        [sys.executable, "-m", "dashboards.export", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert "canary.latency_max_ms" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())
