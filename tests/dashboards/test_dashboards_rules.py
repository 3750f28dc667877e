"""The rendered rule files: `promtool check rules`, `promtool test rules`, naming."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards import alerts, queries, rules
from stack.config import load_config
from tests.support.prerequisites import require_binary

HERE = Path(__file__).resolve().parent
UNIT_TESTS = sorted(HERE.glob("*.promtool.yml"))
# level:metric:operations, each part a valid name fragment.
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")


@pytest.fixture(scope="module")
def rule_dir(tmp_path_factory, config) -> Path:
    path = tmp_path_factory.mktemp("rules")
    for name, text in rules.rules_yaml(config).items():
        (path / name).write_text(text)
    return path


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_promtool_check_rules(rule_dir):
    promtool = require_binary("promtool", "make toolchain")
    files = sorted(str(p) for p in rule_dir.glob("*.yml"))
    result = _run([promtool, "check", "rules", *files], rule_dir)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests(rule_dir, unit_test):
    promtool = require_binary("promtool", "make toolchain")
    shutil.copy(unit_test, rule_dir / unit_test.name)
    result = _run([promtool, "test", "rules", unit_test.name], rule_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_cover_every_alert(config):
    names = {
        a.name
        for a in alerts.alerting_rules(
            config,
            error_ratio=rules.error_ratio_name(config),
            latency_buckets=rules.latency_buckets_name(config),
        )
    }
    assert names == {
        "OrderApiHighErrorRate",
        "OrderApiHighLatency",
        "OrderApiDown",
        "CanaryRolledBack",
    }
    cases = [c for u in UNIT_TESTS for c in yaml.safe_load(u.read_text())["tests"]]
    checks = [check for case in cases for check in case.get("alert_rule_test", [])]
    for alert in names:
        outcomes = {bool(c["exp_alerts"]) for c in checks if c["alertname"] == alert}
        assert outcomes == {True, False}, f"{alert}: needs a firing and a silent unit test"


def test_rule_files_shape(config):
    files = rules.rules_yaml(config)
    assert set(files) == {"order-api-recording.rules.yml", "order-api-alerts.rules.yml"}
    assert set(files) == {rules.recording_file(config), rules.alerting_file(config)}
    for name, text in files.items():
        assert text.endswith("\n"), name
        groups = yaml.safe_load(text)["groups"]
        for group in groups:
            for rule in group["rules"]:
                if "record" in rule:
                    assert RECORD_NAME.match(rule["record"]), rule["record"]
                    assert rule["record"].split(":")[0].startswith("namespace_app"), rule
                else:
                    assert {"severity"} <= rule["labels"].keys(), rule
                    annotations = rule["annotations"].keys()
                    assert {"summary", "description", "runbook_url"} == annotations, rule
    recorded = [r.record for r in rules.recording_rules(config)]
    assert recorded == [
        "namespace_app:http_requests:rate1m",
        "namespace_app:http_requests_5xx_per_requests:ratio_rate1m",
        "namespace_app_le:http_request_latency_seconds_bucket:rate1m",
    ]


def test_rules_follow_the_config():
    config = load_config(
        {
            "ORDER_API_SRE_NAMESPACE": "shop",
            "ORDER_API_SRE_CANARY__METRIC_WINDOW_S": "30",
            "ORDER_API_SRE_CANARY__LATENCY_MAX_MS": "250",
        }
    )
    text = "".join(rules.rules_yaml(config).values())
    assert "namespace_app:http_requests:rate30s" in text
    assert "[30s]" in text and "[1m]" not in text
    assert 'namespace="shop"' in text and "sre-demo" not in text
    assert "> 250\n" in text


def test_rule_files_and_groups_follow_the_app_name():
    config = load_config({"ORDER_API_SRE_APP__NAME": "shop"})
    files = rules.rules_yaml(config)
    assert set(files) == {"shop-recording.rules.yml", "shop-alerts.rules.yml"}
    groups = [g["name"] for text in files.values() for g in yaml.safe_load(text)["groups"]]
    assert groups == ["shop.recording", "shop.alerts"]
    assert "order-api" not in "".join(files.values())


def test_latency_alert_uses_the_queries_p99(config):
    (latency,) = [
        a
        for a in alerts.alerting_rules(
            config,
            error_ratio=rules.error_ratio_name(config),
            latency_buckets=rules.latency_buckets_name(config),
        )
        if a.name == "OrderApiHighLatency"
    ]
    assert latency.signal.startswith(f"1000 * histogram_quantile({queries.P99}, sum by (")
