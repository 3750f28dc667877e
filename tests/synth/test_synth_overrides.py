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


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"ORDER_API_SRE_CANARY__INTERVAL_S": "5"}, "canary.interval_s"),
        ({"ORDER_API_SRE_CANARY__METRIC_WINDOW_S": "20"}, "canary.metric_window_s"),
        ({"ORDER_API_SRE_CANARY__STEP_WEIGHT": "60"}, "canary.step_weight"),
        ({"ORDER_API_SRE_APP__IMAGE_TAG": "latest"}, "app.image_tag"),
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
