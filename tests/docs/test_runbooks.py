"""Every alert's runbook_url points at a section of docs/runbooks.md that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dashboards import rules
from dashboards.alerts import runbook_anchor
from stack.config import load_config

ROOT = Path(__file__).resolve().parent.parent.parent
RUNBOOKS = ROOT / "docs" / "runbooks.md"
CONFIG = load_config(env={})


def _anchors(markdown: str) -> set[str]:
    """The anchors a Markdown renderer (GitHub's rule) gives the headings."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match[1].strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def _alert_rules() -> list[dict[str, object]]:
    """The alerting rules exactly as Prometheus loads them."""
    text = rules.rules_yaml(CONFIG)[rules.alerting_file(CONFIG)]
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


def test_the_anchor_rule_matches_a_renderer() -> None:
    assert _anchors("## CanaryRolledBack\n### Some Thing, here") == {
        "canaryrolledback",
        "some-thing-here",
    }


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda r: str(r["alert"]))
def test_runbook_url_points_at_an_existing_section(rule: dict[str, object]) -> None:
    annotations = rule["annotations"]
    assert isinstance(annotations, dict)
    url = annotations["runbook_url"]
    base, _, anchor = url.partition("#")
    assert base == CONFIG.alerts.runbook_base_url
    assert base.endswith(RUNBOOKS.name)
    assert anchor == runbook_anchor(str(rule["alert"]))
    assert anchor in _anchors(RUNBOOKS.read_text()), f"{RUNBOOKS.name} has no section {anchor}"
