"""Alerts as synthesized: amtool on the real alertmanager.yml, Prometheus' alerting
block, Flagger's AlertProviders, the Secret mounts and the one allowed flow."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import alerts
from dashboards.alert_routing import (
    CONFIG_FILE,
    NO_RECEIVER,
    ON_CALL,
    SECRETS_DIR,
    alertmanager_config,
)
from dashboards.rules import alerting_file, rules_yaml
from stack.config import StackConfig, load_config
from stack.names import app_names
from stack.scrape import COMPONENT_NAME_LABEL, TRAEFIK_POD_LABEL
from stack.validation import check_config
from synth.charts.canary import ERROR, INFO
from tests.support.alert_sink import VALUES as SINK_VALUES
from tests.support.network_policy_flows import Pod, admitted_sources, policies_of
from tests.support.prerequisites import require_binary
from tests.support.stack_variants import ALERT_CONFIGS, chart_objects, config_for
from tests.support.synth_output import Synthesized
from toolchain import versions

CONFIG = load_config(env={})
NAMES = app_names(CONFIG)
RECEIVER_CONFIGS = {
    "default": NO_RECEIVER,
    "webhook": ON_CALL,
    "alerts-slack": ON_CALL,
    "alerts-email": ON_CALL,
}
CONFIGS_WITH_WEBHOOK = {
    "default": {},
    **ALERT_CONFIGS,
    "webhook": {
        "ORDER_API_SRE_ALERTS__RECEIVER": "webhook",
        "ORDER_API_SRE_ALERTS__FLAGGER_PROVIDER": "msteams",
    },
}


def _objects(config_name: str, chart_id: str) -> list[dict[str, Any]]:
    config = load_config(env=CONFIGS_WITH_WEBHOOK[config_name])
    check_config(config)
    return chart_objects(config, chart_id)


def _alertmanager_yml(config_name: str) -> str:
    (config_map,) = [
        o for o in _objects(config_name, "55-alertmanager") if o["kind"] == "ConfigMap"
    ]
    return str(config_map["data"][CONFIG_FILE])


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    amtool = require_binary("amtool", "make toolchain")
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("config_name", list(RECEIVER_CONFIGS))
def test_amtool_accepts_the_synthesized_config(config_name: str, tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILE
    path.write_text(_alertmanager_yml(config_name))
    result = _amtool("check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout
    # amtool counts what it found: the one receiver and both inhibitions.
    assert " - 1 receivers" in result.stdout, result.stdout
    assert " - 2 inhibit rules" in result.stdout, result.stdout
    receivers = yaml.safe_load(path.read_text())["receivers"]
    assert [r["name"] for r in receivers] == [RECEIVER_CONFIGS[config_name]]


def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check above can fail: a route to an undefined receiver is an error."""
    config = yaml.safe_load(_alertmanager_yml("default"))
    config["route"]["receiver"] = "nobody"
    path = tmp_path / CONFIG_FILE
    path.write_text(yaml.safe_dump(config))
    result = _amtool("check-config", str(path))
    assert result.returncode != 0
    assert "nobody" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"alertname": alerts.HIGH_ERROR_RATE, alerts.SEVERITY: alerts.CRITICAL}, ON_CALL),
        ({"alertname": alerts.ROLLED_BACK, alerts.SEVERITY: alerts.WARNING}, ON_CALL),
    ],
)
def test_every_alert_routes_to_the_receiver(
    labels: dict[str, str], receiver: str, tmp_path: Path
) -> None:
    path = tmp_path / CONFIG_FILE
    path.write_text(_alertmanager_yml("webhook"))
    pairs = [f"{k}={v}" for k, v in labels.items()]
    result = _amtool("config", "routes", "test", f"--config.file={path}", *pairs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_every_secret_file_is_under_the_mounted_receiver_secret() -> None:
    for name in RECEIVER_CONFIGS:
        text = _alertmanager_yml(name)
        files = [line.split(":", 1)[1].strip() for line in text.splitlines() if "_file:" in line]
        assert all(f.startswith(SECRETS_DIR + "/") for f in files), (name, files)
        if name != "default":
            assert files, name
    (deployment,) = [o for o in _objects("webhook", "55-alertmanager") if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[SECRETS_DIR])
    assert volume["secret"] == {"secretName": CONFIG.alerts.receiver_secret, "optional": True}


def test_prometheus_sends_alerts_to_the_alertmanager_service(synthesized: Synthesized) -> None:
    config = yaml.safe_load(
        synthesized.one("ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
    )
    (manager,) = config["alerting"]["alertmanagers"]
    (target,) = manager["static_configs"][0]["targets"]
    service = synthesized.one("Service", CONFIG.alerts.alertmanager_service)
    host, port = target.rsplit(":", 1)
    assert host == f"{service['metadata']['name']}.{service['metadata']['namespace']}"
    assert int(port) == service["spec"]["ports"][0]["port"]
    pod = synthesized.one("Deployment", "alertmanager")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert f"--web.listen-address=:{port}" in container["args"]


def _sources(config: StackConfig) -> dict[str, Pod]:
    """Every pod that could open a connection to another: the stack's own, Flagger,
    Traefik, kube-prometheus-stack's Prometheus and Alertmanager, and a stranger."""
    ns, m = config.namespace, config.monitoring
    operator = m.operator_namespace
    own = ["prometheus", "grafana", "alertmanager", "flagger-loadtester", *NAMES.all_tracks]
    return {
        **{app: Pod.app(ns, app) for app in own},
        "flagger": Pod.app(m.flagger_namespace, "flagger"),
        "traefik": Pod(m.traefik_namespace, {COMPONENT_NAME_LABEL: TRAEFIK_POD_LABEL}),
        "operator-prometheus": Pod(operator, {COMPONENT_NAME_LABEL: "prometheus"}),
        "operator-alertmanager": Pod(operator, {COMPONENT_NAME_LABEL: "alertmanager"}),
        "stranger": Pod.app("default", "curl"),
    }


def test_only_prometheus_reaches_alertmanager(synthesized: Synthesized) -> None:
    policies = policies_of(synthesized)
    target = Pod.app(CONFIG.namespace, "alertmanager")
    port = CONFIG.alerts.alertmanager_port
    assert admitted_sources(policies, _sources(CONFIG), target, port) == {"prometheus"}


@pytest.mark.parametrize("mode", ["bundled", "prometheus-operator"])
def test_an_in_cluster_receiver_admits_exactly_flagger_and_alertmanager(mode: str) -> None:
    """The alert proof's values (an in-cluster webhook receiver): Flagger -> receiver,
    Alertmanager -> receiver and Prometheus -> Alertmanager, and no other flow to them."""
    env = {"ORDER_API_SRE_MONITORING__MODE": mode}
    if mode != "bundled":
        env["ORDER_API_SRE_MONITORING__PROMETHEUS_ADDRESS"] = "http://prometheus.monitoring:9090"
    config = load_config(env=env, values_file=SINK_VALUES)
    check_config(config)
    policies = chart_objects(config, "10-network-policies")
    sources, a = _sources(config), config.alerts
    receiver = Pod.app(config.namespace, a.receiver_app)
    alertmanager = "alertmanager" if mode == "bundled" else "operator-alertmanager"
    assert admitted_sources(policies, sources, receiver, a.receiver_port) == {
        "flagger",
        alertmanager,
    }
    assert admitted_sources(policies, sources, receiver, a.receiver_port + 1) == set()
    if mode == "bundled":
        am = Pod.app(config.namespace, "alertmanager")
        assert admitted_sources(policies, sources, am, a.alertmanager_port) == {"prometheus"}


def test_without_an_in_cluster_receiver_no_policy_names_one(synthesized: Synthesized) -> None:
    receiver = load_config(env={}, values_file=SINK_VALUES).alerts
    assert not CONFIG.alerts.receiver_app
    names = [p["metadata"]["name"] for p in policies_of(synthesized)]
    assert not [n for n in names if receiver.receiver_app in n], names


def test_no_alert_provider_without_a_configured_one(synthesized: Synthesized) -> None:
    assert synthesized.find("AlertProvider") == []
    assert "alerts" not in synthesized.one("Canary")["spec"]["analysis"]


def test_alert_providers_read_the_address_from_the_secret() -> None:
    config = config_for("alerts-slack")
    objects = chart_objects(config, "30-canary")
    providers = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "AlertProvider"}
    (canary,) = [o for o in objects if o["kind"] == "Canary"]
    refs = {a["providerRef"]["name"]: a["severity"] for a in canary["spec"]["analysis"]["alerts"]}
    # Rollbacks and failed checks to on-call; every event to the release channel.
    assert refs == {f"{NAMES.name}-on-call": ERROR, f"{NAMES.name}-progress": INFO}
    assert providers.keys() == refs.keys()
    for spec in providers.values():
        assert spec["type"] == "slack"
        assert spec["secretRef"] == {"name": config.alerts.flagger_secret}
        assert "address" not in spec
    assert {s["channel"] for s in providers.values()} == {
        config.alerts.flagger_channel,
        config.alerts.flagger_progress_channel,
    }


def test_the_alertmanager_image_is_the_toolchains_version() -> None:
    """amtool checks the config with the Alertmanager release the pod runs."""
    assert CONFIG.alerts.alertmanager_image.rpartition(":")[2] == versions.ALERTMANAGER


def test_the_event_webhook_gets_every_event() -> None:
    objects = chart_objects(config_for("alerts-email"), "30-canary")
    (canary,) = [o for o in objects if o["kind"] == "Canary"]
    events = [w for w in canary["spec"]["analysis"]["webhooks"] if w["type"] == "event"]
    assert [w["url"] for w in events] == [config_for("alerts-email").alerts.flagger_event_url]


def test_no_event_webhook_by_default(synthesized: Synthesized) -> None:
    webhooks = synthesized.one("Canary")["spec"]["analysis"]["webhooks"]
    assert "event" not in {w["type"] for w in webhooks}


def test_the_waits_and_for_durations_are_settings() -> None:
    """The alert proof's values shorten them; the defaults stay an on-call's."""
    sink = load_config(env={}, values_file=SINK_VALUES)
    for config, error_for, critical_wait in ((CONFIG, "2m", "10s"), (sink, "10s", "1s")):
        rules = {
            r["alert"]: r
            for r in yaml.safe_load(rules_yaml(config)[alerting_file(config)])["groups"][0]["rules"]
        }
        assert rules[alerts.HIGH_ERROR_RATE]["for"] == error_for
        assert rules[alerts.HIGH_LATENCY]["for"] == config.alerts.latency_for
        assert rules[alerts.DOWN]["for"] == config.alerts.down_for
        route = alertmanager_config(config)["route"]
        (critical,) = route["routes"]
        assert critical["group_wait"] == critical_wait
        assert route["group_wait"] == config.alerts.group_wait
