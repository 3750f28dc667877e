"""Shared test plumbing: the project-local Node on PATH, and system binaries
that skip on a user's machine but fail under CI=true."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# jsii must run on the pinned Node 22 from node_modules, not the system Node.
os.environ["PATH"] = os.pathsep.join(
    [str(ROOT / "node_modules" / ".bin"), str(ROOT / ".venv" / "bin"), os.environ["PATH"]]
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_binary(name: str, install_hint: str) -> str:
    """Return the path of `name`; skip without it, but fail under CI=true."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found on PATH ({install_hint})"
    if IN_CI:
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)
    raise AssertionError("unreachable")
