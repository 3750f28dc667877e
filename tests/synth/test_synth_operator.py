"""monitoring.mode prometheus-operator (values/kube-prometheus-stack.yaml): no Prometheus,
Alertmanager or Grafana of the stack; PodMonitors, the bundled rules as a PrometheusRule
and the dashboards for Grafana's sidecar, valid against the pinned CRDs."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import cdk8s
import jsonschema
import kubernetes_validate
import pytest
import yaml
from syrupy.assertion import SnapshotAssertion

from dashboards.export import dashboards_json
from dashboards.rules import rules_yaml
from stack.config import StackConfig, load_config
from stack.validation import check_config
from synth.main import build_app
from tests.support.network_policy_flows import Pod, admits
from tests.support.prerequisites import require_binary
from tests.support.snapshots import YamlSnapshot
from tests.support.synth_output import ROOT
from tests.synth.test_synth_schemas import CUSTOM_GROUPS, _crd_schemas

PROFILE = ROOT / "values" / "kube-prometheus-stack.yaml"
CHARTS = ["00-namespace", "10-network-policies", "20-order-api", "30-canary", "40-ingress",
          "50-monitors"]  # fmt: skip


def _config() -> StackConfig:
    config = load_config(env={}, values_file=PROFILE)
    check_config(config)
    return config


def _objects() -> dict[str, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as out:
        app = build_app(_config(), Path(out))
        return {c.node.id: list(cdk8s.Chart.to_json(c)) for c in app.charts}


def _all() -> list[dict[str, Any]]:
    return [o for objects in _objects().values() for o in objects]


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in _all() if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def test_the_profile_has_no_monitoring_of_its_own() -> None:
    assert list(_objects()) == CHARTS
    deployments = {o["metadata"]["name"] for o in _all() if o["kind"] == "Deployment"}
    assert deployments == {"order-api", "flagger-loadtester"}


def test_the_prometheus_rule_holds_exactly_the_bundled_groups() -> None:
    config = _config()
    bundled = [
        g for _, text in sorted(rules_yaml(config).items()) for g in yaml.safe_load(text)["groups"]
    ]
    rule = _one("PrometheusRule")
    assert rule["spec"]["groups"] == bundled
    assert rule["metadata"]["labels"]["release"] == config.monitoring.operator_release


def test_promtool_accepts_the_prometheus_rule_groups(tmp_path: Path) -> None:
    promtool = require_binary("promtool", "make toolchain")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": _one("PrometheusRule")["spec"]["groups"]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboards_are_labelled_for_the_sidecar() -> None:
    config = _config()
    config_map = _one("ConfigMap")
    m = config.monitoring
    assert config_map["metadata"]["labels"][m.dashboard_label] == m.dashboard_label_value
    assert config_map["data"] == dashboards_json(config)


def test_flagger_reads_the_existing_prometheus() -> None:
    templates = [o for o in _all() if o["kind"] == "MetricTemplate"]
    assert templates
    for template in templates:
        assert template["spec"]["provider"]["address"] == _config().monitoring.prometheus_address


def test_the_app_monitor_gives_the_labels_the_queries_use() -> None:
    monitor = _one("PodMonitor", _config().app.name)
    # namespace and pod come from the operator; app is the pod label.
    assert monitor["spec"]["podTargetLabels"] == ["app"]
    pod = _one("Deployment", "order-api")["spec"]["template"]
    ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports
    assert (
        pod["metadata"]["labels"]["app"]
        in monitor["spec"]["selector"]["matchExpressions"][0]["values"]
    )


def test_the_operator_namespace_may_scrape_order_api() -> None:
    config = _config()
    policies = [p for p in _all() if p["kind"] == "NetworkPolicy"]
    port, ns = config.app.container_port, config.namespace
    target = Pod.app(ns, "order-api")
    operator = Pod(config.monitoring.operator_namespace, {"app.kubernetes.io/name": "prometheus"})
    assert admits(policies, operator, target, port)
    assert not admits(policies, Pod.app(ns, "prometheus"), target, port)


def test_every_object_validates() -> None:
    errors = []
    for obj in _all():
        label = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["apiVersion"].rpartition("/")[0] in CUSTOM_GROUPS:
            schema = _crd_schemas()[(obj["apiVersion"], obj["kind"])]
            errors += [f"{label}: {e.message}" for e in
                       jsonschema.Draft7Validator(schema).iter_errors(obj)]  # fmt: skip
            continue
        try:
            kubernetes_validate.validate(obj, "1.35", strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{label}: {exc.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("chart_id", CHARTS)
def test_profile_objects(chart_id: str, snapshot: SnapshotAssertion) -> None:
    for obj in _objects()[chart_id]:
        name = f"{obj['kind']}-{obj['metadata']['name']}"
        assert obj == snapshot.use_extension(YamlSnapshot)(name=name)
