"""Every dashboard against Grafana's own model (grafana-check: grafana-foundation-sdk's
strict decoding and Validate()) and the dashboard-linter style rules."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from grafanalib._gen import DashboardEncoder

from dashboards import dashboard_lint, export
from tests.support.prerequisites import require_binary
from tests.support.stack_variants import CONFIGS, config_for
from tests.support.synth_output import ROOT
from toolchain import versions
from toolchain.components import BY_NAME, GRAFANA_CHECK, LOCAL_ROOT

DIST_DASHBOARDS = ROOT / "dist" / "dashboards"
# What the JSON declares; docs/dashboards.md says which Grafana loads it.
SCHEMA_VERSION = 39


def _check(*paths: Path) -> subprocess.CompletedProcess[str]:
    checker = require_binary("grafana-check", "make toolchain")
    return subprocess.run([checker, *map(str, paths)], capture_output=True, text=True, timeout=60)


def _write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _built(config_name: str) -> dict[str, dict[str, Any]]:
    texts = export.dashboards_json(config_for(config_name))
    return {name: json.loads(text) for name, text in texts.items()}


def test_dist_dashboards_pass_grafanas_model() -> None:
    paths = sorted(DIST_DASHBOARDS.glob("*.json"))
    assert paths
    result = _check(*paths)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in paths:
        assert f"{path}: ok (schemaVersion {SCHEMA_VERSION})" in result.stdout, result.stdout


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_every_config_passes_grafanas_model(config_name: str, tmp_path: Path) -> None:
    paths = [_write(tmp_path, n, d) for n, d in _built(config_name).items()]
    result = _check(*paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafanalibs_own_json_fails_the_model(tmp_path: Path) -> None:
    """The check can fail: grafanalib's output before grafana_model fails it, naming fields."""
    (dashboard,) = [d(config_for("default")) for d in export.DASHBOARDS]
    raw = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    result = _check(_write(tmp_path, "raw.json", raw))
    assert result.returncode == 1, result.stdout + result.stderr
    for legacy in ("rows", "sharedCrosshair", "time_options", "wideLayout"):
        assert legacy in result.stdout, result.stdout


def test_an_unknown_panel_field_and_a_wrong_type_fail(tmp_path: Path) -> None:
    (data,) = _built("default").values()
    data["panels"][0]["lineWidthPx"] = 2
    data["panels"][1]["gridPos"]["w"] = "wide"
    result = _check(_write(tmp_path, "bad.json", data))
    assert result.returncode == 1
    assert "panels[0].Panel: unexpected field 'lineWidthPx'" in result.stdout, result.stdout
    assert "panels[1]" in result.stdout and "gridPos" in result.stdout, result.stdout


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    assert _check(bad).returncode == 2
    assert _check(tmp_path / "missing.json").returncode == 2


def test_the_checker_pins_the_sdk_version_of_versions_py() -> None:
    gomod = (LOCAL_ROOT / GRAFANA_CHECK / "go.mod").read_text()
    required = re.findall(r"github.com/grafana/grafana-foundation-sdk/go (v\S+)", gomod)
    assert required == [versions.GRAFANA_FOUNDATION_SDK]
    gosum = (LOCAL_ROOT / GRAFANA_CHECK / "go.sum").read_text()
    assert f"grafana-foundation-sdk/go {versions.GRAFANA_FOUNDATION_SDK} h1:" in gosum
    assert BY_NAME["grafana-check"].local == GRAFANA_CHECK


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_dashboards_pass_the_lint_rules(config_name: str) -> None:
    for name, data in _built(config_name).items():
        assert data["schemaVersion"] == SCHEMA_VERSION, name
        findings = dashboard_lint.lint(data)
        assert not findings, "\n".join(map(str, findings))


def test_every_lint_exception_names_a_panel_that_exists() -> None:
    (data,) = _built("default").values()
    titles = {p["title"] for p in data["panels"]}
    for rule, title in dashboard_lint.EXCEPTIONS:
        assert title in titles, (rule, title)


def _rules(data: dict[str, Any]) -> set[str]:
    return {f.rule for f in dashboard_lint.lint(data)}


def test_lint_catches_each_rule() -> None:
    (data,) = _built("default").values()
    timeseries = next(p for p in data["panels"] if p["type"] == "timeseries")
    target = timeseries["targets"][0]
    target["expr"] = 'sum(rate(http_requests_total{path="rate(x_total[1m])"}[5m]))'
    assert _rules(data) == {"rate-interval"}
    target["expr"] = "sum(http_requests_total)"
    assert _rules(data) == {"counter-aggregation"}
    target["expr"] = "sum(increase(http_requests_total[$__range]))"
    target["datasource"] = {"type": "prometheus", "uid": "prometheus"}
    assert _rules(data) == {"template-datasource"}
    del target["datasource"]
    timeseries["fieldConfig"]["defaults"]["unit"] = ""
    timeseries["targets"] = []
    assert _rules(data) == {"panel-units", "panel-targets"}
    data["templating"]["list"] = [
        v for v in data["templating"]["list"] if v["type"] != "datasource"
    ]
    assert "template-datasource" in _rules(data)


def test_lint_cli_exit_codes(tmp_path: Path) -> None:
    (data,) = _built("default").values()
    good = _write(tmp_path, "good.json", data)
    assert dashboard_lint.main([str(good)]) == 0
    data["panels"][0]["targets"] = []
    assert dashboard_lint.main([str(_write(tmp_path, "bad.json", data))]) == 1
    (tmp_path / "broken.json").write_text("[")
    assert dashboard_lint.main([str(tmp_path / "broken.json")]) == 2
