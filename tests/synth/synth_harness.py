"""Shared plumbing for the synth tests: manifests, trees, real processes.

The session's synthesis is the `synthesized` fixture in conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"


@dataclass(frozen=True)
class Manifest:
    """One synthesized object and the file it came from."""

    file: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.obj["kind"]

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def label(self) -> str:
        return f"{self.file}: {self.kind}/{self.name}"


def load_manifests(outdir: Path) -> list[Manifest]:
    return [
        Manifest(file=path.name, obj=obj)
        for path in sorted(outdir.glob("*.yaml"))
        for obj in yaml.safe_load_all(path.read_text())
        if obj is not None
    ]


def clean_env() -> dict[str, str]:
    """The caller's environment without stack overrides (tests pin their config)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ORDER_API_SRE_")}


def tree(outdir: Path) -> dict[str, bytes]:
    """Every file under `outdir` by relative path, for byte-exact comparisons."""
    return {
        str(p.relative_to(outdir)): p.read_bytes() for p in sorted(outdir.rglob("*")) if p.is_file()
    }


# --- Real processes for the live tests (order-api, Traefik, Prometheus) --------

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """A process for the duration of the block, its output in `log`; always reaped."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(check: Callable[[], Any], *, what: str, log: Path, timeout_s: float = 30) -> Any:
    """Poll `check` until it returns something truthy; fail with the log's tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            result = check()
            if result:
                return result
        time.sleep(0.1)
    pytest.fail(f"{what} not ready after {timeout_s}s; log:\n{log.read_text()[-3000:]}")
