"""The release command line: bad input exits 2 naming the field, files untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from release.base_image import base_reference, qualified, suite_of
from release.image import DOCKERFILE
from tests.support.synth_output import ROOT, clean_env


def _release(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "release", *args],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("tag", ["", "latest", "-1.0", "1.0/evil", "x" * 129])
def test_a_bad_tag_exits_2_and_changes_nothing(tag: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("app:\n  image_tag: 1.0.0\n")
    out = tmp_path / "dist"
    result = _release("release", "--tag", tag, "--values", str(values), "--output", str(out))
    assert result.returncode == 2
    assert "app.image_tag" in result.stderr or "needs a tag" in result.stderr
    assert "Traceback" not in result.stderr
    assert values.read_text() == "app:\n  image_tag: 1.0.0\n"
    assert not out.exists()


def test_a_bad_values_file_exits_2_naming_the_field(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("app:\n  image_repository: UPPER/Case\n")
    result = _release("image", "--values", str(values))
    assert result.returncode == 2
    assert "release: configuration error: app.image_repository:" in result.stderr
    assert "Traceback" not in result.stderr


def test_push_without_a_registry_says_what_to_set(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("app:\n  image_tag: 0.0.0-never-built\n")
    result = _release("push", "--values", str(values))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "make image" in result.stderr or "app.image_registry" in result.stderr


def test_the_stand_in_is_named_like_the_dockerfile_base() -> None:
    reference = base_reference(DOCKERFILE)
    assert reference.startswith("python:3.11")
    assert qualified(reference) == f"docker.io/library/{reference}"
    assert qualified("ghcr.io/acme/python:3") == "ghcr.io/acme/python:3"
    assert suite_of(qualified(reference)) == "bookworm"
