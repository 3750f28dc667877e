"""Config overrides reach dist/ without code changes; bad values stop synth, naming the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.config import VALUES_ENV, ConfigError, load_config
from stack.names import app_names
from stack.validation import check_config
from synth.main import build_app
from tests.support.synth_output import ROOT, clean_env

NAME = app_names(load_config(env={})).name


def _objects(env: dict[str, str], tmp_path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Synthesize in memory (no files) for a config built from `env`."""
    config = load_config(env=env)
    check_config(config)
    text = build_app(config, tmp_path).synth_yaml()
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(text) if o}


def test_environment_override_changes_the_output(tmp_path: Path) -> None:
    objects = _objects({"ORDER_API_SRE_APP__IMAGE_TAG": "1.1.0"}, tmp_path)
    deployment = objects[("Deployment", NAME)]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{load_config(env={}).app.image_repository}:1.1.0"
    assert {"name": "ORDER_API_VERSION", "value": "1.1.0"} in container["env"]


def test_fault_injection_reaches_the_release_only_when_set(tmp_path: Path) -> None:
    env = {"ORDER_API_SRE_APP__FAULT_ERROR_RATE": "0.2", "ORDER_API_SRE_APP__FAULT_DELAY_MS": "700"}
    objects = _objects(env, tmp_path)
    (container,) = objects[("Deployment", NAME)]["spec"]["template"]["spec"]["containers"]
    assert {"name": "ORDER_API_FAULT_ERROR_RATE", "value": "0.2"} in container["env"]
    assert {"name": "ORDER_API_FAULT_DELAY_MS", "value": "700"} in container["env"]


def test_values_file_override_changes_the_output(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        "namespace: shop\ningress: {host: shop.example.org}\ncanary: {step_weight: 25}\n"
    )
    objects = _objects({VALUES_ENV: str(values)}, tmp_path)
    canary = objects[("Canary", NAME)]
    assert canary["metadata"]["namespace"] == "shop"
    assert canary["spec"]["analysis"]["stepWeight"] == 25
    route = objects[("IngressRoute", NAME)]
    assert route["spec"]["routes"][0]["match"] == "Host(`shop.example.org`)"
    assert ("Namespace", "shop") in objects
    template = objects[("MetricTemplate", f"{NAME}-error-rate")]
    assert template["spec"]["provider"]["address"] == "http://prometheus-service.shop:9090"


def test_scale_down_window_reaches_the_hpa_only_when_changed(tmp_path: Path) -> None:
    default = _objects({}, tmp_path)[("HorizontalPodAutoscaler", NAME)]
    assert "behavior" not in default["spec"]  # Kubernetes' own 300 s
    values = ROOT / "tests" / "cluster" / "values" / "autoscaling.yaml"
    hpa = _objects({VALUES_ENV: str(values)}, tmp_path)[("HorizontalPodAutoscaler", NAME)]
    assert hpa["spec"]["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 15}}


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"ORDER_API_SRE_CANARY__INTERVAL_S": "5"}, "canary.interval_s"),
        ({"ORDER_API_SRE_CANARY__METRIC_WINDOW_S": "20"}, "canary.metric_window_s"),
        ({"ORDER_API_SRE_CANARY__STEP_WEIGHT": "60"}, "canary.step_weight"),
        ({"ORDER_API_SRE_APP__IMAGE_TAG": "latest"}, "app.image_tag"),
        ({"ORDER_API_SRE_APP__SCALE_DOWN_STABILIZATION_S": "-1"}, "app.scale_down_stabilization_s"),
        ({"ORDER_API_SRE_APP__IMAGE_TAG": "bad tag"}, "app.image_tag"),
        ({"ORDER_API_SRE_APP__IMAGE_TAG": "-1.0"}, "app.image_tag"),
        (
            {"ORDER_API_SRE_MONITORING__GRAFANA_IMAGE": "grafana/grafana"},
            "monitoring.grafana_image",
        ),
        ({"ORDER_API_SRE_APP__MAX_REPLICAS": "1"}, "app.max_replicas"),
        ({"ORDER_API_SRE_APP__FAULT_ERROR_RATE": "1.5"}, "app.fault_error_rate"),
    ],
)
def test_values_flagger_or_kubernetes_would_reject_name_the_field(
    env: dict[str, str], field: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^(.*; )?{field}: "):
        check_config(load_config(env=env))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDER_API_SRE_CANARY__MAX_WEIGHT": "abc"}, "canary.max_weight: expected int"),
        ({"ORDER_API_SRE_CANARY__INTERVAL_S": "5"}, "canary.interval_s: Flagger needs"),
    ],
)
def test_cli_prints_the_error_and_exits_2_without_traceback(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    outdir = tmp_path / "dist"
    outdir.mkdir()
    (outdir / "keep.k8s.yaml").write_text("kept: true\n")
    result = subprocess.run(
        [sys.executable, "-m", "synth.main"],
        cwd=ROOT, env={**clean_env(), **env, "CDK8S_OUTDIR": str(outdir)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    # A rejected config leaves the previous output alone.
    assert (outdir / "keep.k8s.yaml").exists()


def test_image_registry_and_pull_secrets_reach_the_pods(tmp_path: Path) -> None:
    env = {
        "ORDER_API_SRE_APP__IMAGE_REGISTRY": "registry.example.com:5000/team",
        "ORDER_API_SRE_APP__IMAGE_PULL_SECRETS": "regcred",
    }
    pod = _objects(env, tmp_path)[("Deployment", NAME)]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example.com:5000/team/order-api:1.0.0"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]


def test_no_pull_secrets_no_empty_list(tmp_path: Path) -> None:
    pod = _objects({}, tmp_path)[("Deployment", NAME)]["spec"]["template"]["spec"]
    assert "imagePullSecrets" not in pod


def test_the_k3s_profile_follows_the_bundled_traefik(tmp_path: Path) -> None:
    """One setting (kube-system, Service traefik) moves the policy, scrape job and URLs."""
    values = ROOT / "values" / "k3s.yaml"
    objects = _objects({VALUES_ENV: str(values)}, tmp_path)
    (peer,) = objects[("NetworkPolicy", f"allow-{NAME}-from-traefik")]["spec"]["ingress"][0]["from"]
    assert peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
    }
    assert peer["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "traefik"}}
    prometheus_yml = yaml.safe_load(
        objects[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"]
    )
    traefik_job = next(j for j in prometheus_yml["scrape_configs"] if j["job_name"] == "traefik")
    assert traefik_job["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["kube-system"]
    webhooks = objects[("Canary", NAME)]["spec"]["analysis"]["webhooks"]
    load = next(w for w in webhooks if w["name"] == "load-test")
    assert "http://traefik.kube-system/" in load["metadata"]["cmd"]
    hcc = objects[("HelmChartConfig", "traefik")]
    assert hcc["metadata"]["namespace"] == "kube-system"
    chart_values = yaml.safe_load(hcc["spec"]["valuesContent"])
    assert chart_values["metrics"]["prometheus"]["buckets"] == "0.05,0.1,0.25,0.5,1,2.5,5"
    # No second Traefik and no metrics-server in the profile's output.
    assert not [k for k in objects if k[0] in {"Deployment", "DaemonSet"} and "traefik" in k[1]]
    assert not [k for k in objects if "metrics-server" in k[1]]
