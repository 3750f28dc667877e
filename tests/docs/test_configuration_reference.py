"""docs/configuration.md is generated from the typed config and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stack import reference
from stack.config import StackConfig
from stack.validation import constraints

FIX = "run `make config-docs` and commit docs/configuration.md"


def test_the_reference_is_up_to_date() -> None:
    assert reference.REFERENCE.is_file(), f"docs/configuration.md is missing: {FIX}"
    assert reference.REFERENCE.read_text() == reference.render(), FIX


def test_every_key_has_a_row_with_type_default_and_description() -> None:
    rows = {s.key: s for s in reference.settings()}
    assert len(rows) == len(list(reference._leaves(StackConfig())))
    for key in ("namespace", "ingress.host", "app.image_tag", "monitoring.traefik_namespace"):
        assert rows[key].type == "string" and rows[key].description and rows[key].constraint
    assert rows["canary.success_rate_min_percent"].constraint == "must be a percentage 0..100"
    assert rows["ingress.traefik_latency_buckets"].type == "list of number"
    assert rows["app.image_pull_secrets"].default == "[]"


def test_no_description_or_rule_names_a_key_that_does_not_exist() -> None:
    keys = {key for key, _, _ in reference._leaves(StackConfig())}
    assert set(reference.DESCRIPTIONS) <= keys
    assert set(constraints(StackConfig())) <= keys


def test_check_mode_exits_1_on_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("old\n")
    monkeypatch.setattr(reference, "REFERENCE", stale)
    monkeypatch.setattr(reference, "ROOT", tmp_path)
    assert reference.main(["--check"]) == 1
    assert reference.main([]) == 0
    assert reference.main(["--check"]) == 0


def test_the_module_runs_as_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stack.reference", "--check"],
        cwd=reference.ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
