"""Running the container tool: output streamed to stderr, failures as ReleaseError."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from release.engine import Engine
from release.errors import ReleaseError


def run(engine: Engine, args: Sequence[str], *, what: str, capture: bool = False) -> str:
    """`engine args...`; its output goes to stderr (stdout keeps the reference)."""
    argv = [*engine.argv, *args]
    proc = subprocess.run(
        argv,
        env={**os.environ, **engine.env},
        stdout=subprocess.PIPE if capture else sys.stderr,
        stderr=subprocess.PIPE if capture else sys.stderr,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or "").strip().splitlines()[-5:] if capture else []
        raise ReleaseError(
            f"{what} failed ({engine.name} exit {proc.returncode})"
            + (": " + " | ".join(detail) if detail else "")
        )
    return proc.stdout or ""


def succeeds(engine: Engine, args: Sequence[str]) -> bool:
    proc = subprocess.run(
        [*engine.argv, *args], env={**os.environ, **engine.env},
        capture_output=True, check=False,
    )  # fmt: skip
    return proc.returncode == 0
