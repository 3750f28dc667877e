"""Snapshots of every synthesized object, one YAML file per object, for the
default config, three overrides and the committed profiles in values/. After
an intended change, accept the new output with
`.venv/bin/python -m pytest tests/synth/test_synth_snapshots.py --snapshot-update`
and review the per-object diff in tests/synth/__snapshots__/."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

from stack.config import StackConfig
from synth.main import build_app
from tests.support.snapshots import YamlSnapshot
from tests.support.stack_variants import (
    ALERT_CHARTS,
    ALERT_CONFIGS,
    CHARTS,
    CONFIGS,
    PROFILE_CHARTS,
    TLS_CHARTS,
    TLS_CONFIGS,
    chart_objects,
    config_for,
)


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
    _matches_snapshots(config_name, chart_id, snapshot)


@pytest.mark.parametrize(
    ("profile", "chart_id"),
    [(profile, chart) for profile, charts in PROFILE_CHARTS.items() for chart in charts],
)
def test_profile_chart_objects(profile: str, chart_id: str, snapshot: SnapshotAssertion) -> None:
    _matches_snapshots(profile, chart_id, snapshot)


def _matches_snapshots(config_name: str, chart_id: str, snapshot: SnapshotAssertion) -> None:
    objects = chart_objects(config_for(config_name), chart_id)
    assert objects
    names = [f"{o['kind']}-{o['metadata']['name']}" for o in objects]
    assert len(names) == len(set(names)), names
    for name, obj in zip(names, objects, strict=True):
        assert obj == snapshot.use_extension(YamlSnapshot)(name=name)


@pytest.mark.parametrize("chart_id", ALERT_CHARTS)
@pytest.mark.parametrize("config_name", list(ALERT_CONFIGS))
def test_alert_chart_objects(config_name: str, chart_id: str, snapshot: SnapshotAssertion) -> None:
    _matches_snapshots(config_name, chart_id, snapshot)


@pytest.mark.parametrize("chart_id", TLS_CHARTS)
@pytest.mark.parametrize("config_name", list(TLS_CONFIGS))
def test_tls_chart_objects(config_name: str, chart_id: str, snapshot: SnapshotAssertion) -> None:
    _matches_snapshots(config_name, chart_id, snapshot)
