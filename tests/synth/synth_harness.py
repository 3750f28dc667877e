"""Shared plumbing for the synth tests: one synthesis per test session.

Imported by the tests/synth test modules (pytest puts this folder on sys.path);
`synthesized()` is cached, so the whole session pays for one cdk8s run.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from synth.config import load_config
from synth.main import synthesize

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


def _tmpdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def synthesized() -> Path:
    """A fresh synth of the default config (no ORDER_API_SRE_* from the caller's shell)."""
    out = _tmpdir("synth-test-") / "dist"
    synthesize(load_config(env={}), out)
    return out


def load_manifests(outdir: Path) -> list[Manifest]:
    return [
        Manifest(file=path.name, obj=obj)
        for path in sorted(outdir.glob("*.yaml"))
        for obj in yaml.safe_load_all(path.read_text())
        if obj is not None
    ]


@functools.cache
def _manifests() -> tuple[Manifest, ...]:
    return tuple(load_manifests(synthesized()))


def manifests() -> list[Manifest]:
    """Deep copies, so a test cannot change what the next one sees."""
    return [copy.deepcopy(m) for m in _manifests()]


def find(kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [m.obj for m in manifests() if m.kind == kind and (name is None or m.name == name)]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(kind, name)
    assert len(found) == 1, f"expected exactly one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_templates() -> Iterator[tuple[Manifest, dict[str, Any]]]:
    """(owner, pod spec) of every workload."""
    for m in manifests():
        if m.kind in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            yield m, m.obj["spec"]["template"]["spec"]


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
