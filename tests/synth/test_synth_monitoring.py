"""Prometheus and Grafana as synthesized: promtool on the real config, the data source,
and the network policies that let them (and only them) talk."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from stack.config import load_config
from stack.names import app_names
from stack.scrape import APP_LABEL, NAMESPACE_LABEL, POD_LABEL
from tests.support.network_policy_flows import selects
from tests.support.prerequisites import require_binary
from tests.support.synth_output import Synthesized

CONFIG = load_config(env={})
NAMES = app_names(CONFIG)


def _prometheus_pod(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.one("Deployment", "prometheus")["spec"]["template"]["spec"]


def _materialize_prometheus_config(into: Path, synthesized: Synthesized) -> Path:
    """Lay out the ConfigMaps as the pod's projected volume does; return prometheus.yml."""
    config_maps = {cm["metadata"]["name"]: cm["data"] for cm in synthesized.find("ConfigMap")}
    pod = _prometheus_pod(synthesized)
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if "projected" in v)
    root = into / mounts[volume["name"]].lstrip("/")
    for source in volume["projected"]["sources"]:
        ref = source["configMap"]
        for item in ref["items"]:
            target = root / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(config_maps[ref["name"]][item["key"]])
    flag = next(a for a in container["args"] if a.startswith("--config.file="))
    return into / flag.removeprefix("--config.file=").lstrip("/")


def _promtool_check(promtool: str, config_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "config", str(config_file)], capture_output=True, text=True, timeout=60
    )


def test_promtool_accepts_the_rendered_config_and_its_rules(
    tmp_path: Path, synthesized: Synthesized
) -> None:
    """The unmodified prometheus.yml, Kubernetes discovery included, by the deployed version."""
    promtool = require_binary("promtool", "make toolchain")
    config_file = _materialize_prometheus_config(tmp_path, synthesized)
    rules = sorted((config_file.parent / "rules").glob("*"))
    assert rules, "no rule files mounted next to prometheus.yml"
    result = _promtool_check(promtool, config_file)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # promtool names each rule file it found through rule_files: all of them, not zero.
    for path in rules:
        assert path.name in output, output


def test_scrape_config_relabels_into_namespace_pod_and_app(synthesized: Synthesized) -> None:
    config = yaml.safe_load(
        synthesized.one("ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
    )
    assert config["global"]["scrape_interval"] == f"{CONFIG.monitoring.scrape_interval_s}s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    app_job = jobs["kubernetes-pods"]
    assert app_job["kubernetes_sd_configs"] == [
        {"role": "pod", "namespaces": {"names": [CONFIG.namespace]}}
    ]
    targets = {r.get("target_label") for r in app_job["relabel_configs"]}
    assert {NAMESPACE_LABEL, POD_LABEL, APP_LABEL, "__address__", "__metrics_path__"} <= targets
    sd_namespaces = {
        job["job_name"]: job["kubernetes_sd_configs"][0]["namespaces"]["names"]
        for job in config["scrape_configs"]
        if "kubernetes_sd_configs" in job
    }
    assert [CONFIG.monitoring.traefik_namespace] in sd_namespaces.values()
    assert [CONFIG.monitoring.flagger_namespace] in sd_namespaces.values()


def test_prometheus_rbac_is_read_only_on_pods(synthesized: Synthesized) -> None:
    (rule,) = synthesized.one("ClusterRole")["rules"]
    assert rule == {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    binding = synthesized.one("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == synthesized.one("ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "prometheus", "namespace": CONFIG.namespace}
    ]


def test_prometheus_service_and_retention(synthesized: Synthesized) -> None:
    service = synthesized.one("Service", CONFIG.monitoring.prometheus_service)
    assert service["spec"]["ports"][0]["port"] == CONFIG.monitoring.prometheus_port
    (container,) = _prometheus_pod(synthesized)["containers"]
    assert f"--storage.tsdb.retention.time={CONFIG.monitoring.retention}" in container["args"]
    assert container["image"] == CONFIG.monitoring.prometheus_image


def test_grafana_datasource_points_at_this_prometheus(synthesized: Synthesized) -> None:
    text = synthesized.one("ConfigMap", "grafana-datasources")["data"]["datasources.yaml"]
    (source,) = yaml.safe_load(text)["datasources"]
    assert source["url"] == CONFIG.prometheus_url == "http://prometheus-service.sre-demo:9090"
    assert source["uid"] == CONFIG.monitoring.datasource_uid
    assert source["jsonData"]["timeInterval"] == f"{CONFIG.monitoring.scrape_interval_s}s"


def test_grafana_dashboards_config_map_is_mounted_where_the_provider_looks(
    synthesized: Synthesized,
) -> None:
    dashboards = synthesized.one("ConfigMap", "grafana-dashboards")["data"]
    assert dashboards and all(name.endswith(".json") for name in dashboards)
    providers = yaml.safe_load(
        synthesized.one("ConfigMap", "grafana-dashboard-providers")["data"]["providers.yaml"]
    )["providers"]
    pod = synthesized.one("Deployment", "grafana")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounted = {
        m["mountPath"]: volumes[m["name"]].get("configMap", {}).get("name")
        for m in container["volumeMounts"]
    }
    assert mounted[providers[0]["options"]["path"]] == "grafana-dashboards"


def _policies(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p["spec"] for p in synthesized.find("NetworkPolicy")}


def _allowed(
    policies: dict[str, dict[str, Any]],
    to_app: str,
    port: int,
    *,
    from_app: str | None = None,
    from_ns: str | None = None,
) -> bool:
    """Whether any policy admits this flow (pods in another namespace have no `app` here)."""
    for spec in policies.values():
        if not selects(spec["podSelector"], {"app": to_app}):
            continue
        for rule in spec.get("ingress", []):
            if port not in {p["port"] for p in rule.get("ports", [])}:
                continue
            for peer in rule.get("from", []):
                if from_ns and "namespaceSelector" in peer:
                    ns = {"kubernetes.io/metadata.name": from_ns}
                    if selects(peer["namespaceSelector"], ns):
                        return True
                same_namespace = "podSelector" in peer and "namespaceSelector" not in peer
                if from_app and same_namespace and selects(peer["podSelector"], {"app": from_app}):
                    return True
    return False


def test_default_deny_ingress_selects_every_pod(synthesized: Synthesized) -> None:
    deny = _policies(synthesized)["default-deny-ingress"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_network_policies_allow_exactly_the_needed_flows(synthesized: Synthesized) -> None:
    policies = _policies(synthesized)
    m, port = CONFIG.monitoring, CONFIG.app.container_port
    for track in (NAMES.name, NAMES.primary):
        assert _allowed(policies, track, port, from_ns=m.traefik_namespace)
        assert _allowed(policies, track, port, from_app="flagger-loadtester")
        assert _allowed(policies, track, port, from_app="prometheus")
        assert not _allowed(policies, track, port, from_app="grafana")
        assert not _allowed(policies, track, port, from_ns="default")
    assert _allowed(policies, "prometheus", m.prometheus_port, from_app="grafana")
    assert _allowed(policies, "prometheus", m.prometheus_port, from_ns=m.flagger_namespace)
    assert not _allowed(policies, "prometheus", m.prometheus_port, from_app=NAMES.name)
    assert _allowed(
        policies, "flagger-loadtester", CONFIG.canary.loadtester_port, from_ns=m.flagger_namespace
    )
    assert not _allowed(policies, "grafana", m.grafana_port, from_ns=m.traefik_namespace)
