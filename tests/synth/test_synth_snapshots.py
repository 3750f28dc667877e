"""Snapshots of every synthesized object, one YAML file per object, for the
default config, three overrides and the committed profiles in values/. After
an intended change, accept the new output with
`.venv/bin/python -m pytest tests/synth/test_synth_snapshots.py --snapshot-update`
and review the per-object diff in tests/synth/__snapshots__/."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import cdk8s
import pytest
from syrupy.assertion import SnapshotAssertion

from stack.config import StackConfig, load_config
from stack.validation import check_config
from synth.main import build_app
from tests.synth.snapshots import YamlSnapshot
from tests.synth.synth_harness import ROOT

# Name -> environment overrides (each a config a user would plausibly synthesize).
CONFIGS: dict[str, dict[str, str]] = {
    "default": {},
    "step-weights": {"ORDER_API_SRE_CANARY__STEP_WEIGHTS": "5,10,25,50"},
    "faults": {
        "ORDER_API_SRE_APP__IMAGE_TAG": "1.1.1",
        "ORDER_API_SRE_APP__FAULT_ERROR_RATE": "0.2",
        "ORDER_API_SRE_APP__FAULT_DELAY_MS": "700",
    },
    "shop": {
        "ORDER_API_SRE_NAMESPACE": "shop",
        "ORDER_API_SRE_INGRESS__HOST": "shop.example.org",
        "ORDER_API_SRE_APP__NAME": "shop-api",
    },
}
# The committed profiles (values files), each snapshot-tested as a whole.
PROFILES = {"k3s": ROOT / "values" / "k3s.yaml", "cluster": ROOT / "values" / "cluster.yaml"}
# The chart ids of synth.main.build_app, in apply order.
CHARTS = [
    "00-namespace",
    "10-network-policies",
    "20-order-api",
    "30-canary",
    "40-ingress",
    "50-prometheus",
    "60-grafana",
]


K3S_CHARTS = [*CHARTS[:5], "45-k3s-traefik", *CHARTS[5:]]
PROFILE_CHARTS = {"k3s": K3S_CHARTS, "cluster": CHARTS}


def config_for(name: str) -> StackConfig:
    if name in PROFILES:
        config = load_config(env={}, values_file=PROFILES[name])
    else:
        config = load_config(env=CONFIGS[name])
    check_config(config)
    return config


def chart_objects(config: StackConfig, chart_id: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as out:
        app = build_app(config, Path(out))
        (chart,) = [c for c in app.charts if c.node.id == chart_id]
        return list(cdk8s.Chart.to_json(chart))


def test_the_chart_list_is_complete() -> None:
    with tempfile.TemporaryDirectory() as out:
        assert [c.node.id for c in build_app(StackConfig(), Path(out)).charts] == CHARTS


def test_each_profile_has_its_chart_list() -> None:
    with tempfile.TemporaryDirectory() as out:
        for profile, charts in PROFILE_CHARTS.items():
            assert [c.node.id for c in build_app(config_for(profile), Path(out)).charts] == charts


@pytest.mark.parametrize("chart_id", CHARTS)
@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_chart_objects(config_name: str, chart_id: str, snapshot: SnapshotAssertion) -> None:
    _check_chart(config_name, chart_id, snapshot)


@pytest.mark.parametrize(
    ("profile", "chart_id"),
    [(profile, chart) for profile, charts in PROFILE_CHARTS.items() for chart in charts],
)
def test_profile_chart_objects(profile: str, chart_id: str, snapshot: SnapshotAssertion) -> None:
    _check_chart(profile, chart_id, snapshot)


def _check_chart(config_name: str, chart_id: str, snapshot: SnapshotAssertion) -> None:
    objects = chart_objects(config_for(config_name), chart_id)
    assert objects
    names = [f"{o['kind']}-{o['metadata']['name']}" for o in objects]
    assert len(names) == len(set(names)), names
    for name, obj in zip(names, objects, strict=True):
        assert obj == snapshot.use_extension(YamlSnapshot)(name=name)
