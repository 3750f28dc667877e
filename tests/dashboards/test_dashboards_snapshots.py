"""Snapshots of the dashboard JSON and the rule files for the configs of the synth
snapshots. Accept an intended change with
`.venv/bin/python -m pytest tests/dashboards/test_dashboards_snapshots.py --snapshot-update`."""

from __future__ import annotations

import pytest
from syrupy.assertion import SnapshotAssertion

from dashboards import rules
from dashboards.export import dashboards_json
from tests.support.snapshots import JsonTextSnapshot, YamlSnapshot
from tests.support.stack_variants import CONFIGS, config_for


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_dashboard_json(config_name: str, snapshot: SnapshotAssertion) -> None:
    for name, text in sorted(dashboards_json(config_for(config_name)).items()):
        assert text == snapshot.use_extension(JsonTextSnapshot)(name=name.removesuffix(".json"))


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_rule_files(config_name: str, snapshot: SnapshotAssertion) -> None:
    for name, text in sorted(rules.rules_yaml(config_for(config_name)).items()):
        assert text == snapshot.use_extension(YamlSnapshot)(name=name.removesuffix(".yml"))
