"""Real processes for the live tests (order-api, Traefik, Prometheus) on loopback."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest


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
