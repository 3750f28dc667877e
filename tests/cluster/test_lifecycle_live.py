"""Ctrl-C, a failure and a kill of `up`, and `down`: nothing is left behind.

Marked `own_cluster`: runs before the shared cluster exists (conftest.py
orders it), each test starting its own `python -m cluster up` as a user would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster import netns, netpol
from cluster.lifecycle import NODE_PROGRAM
from tests.cluster.traces import assert_no_trace, leftovers
from tests.support.prerequisites import require_cluster_prerequisites
from toolchain.build import build
from toolchain.components import select

pytestmark = [pytest.mark.live, pytest.mark.own_cluster]
ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "etcd and kube-apiserver ready"


def _up(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cluster", "up", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _until(proc: subprocess.Popen[str], line: str, timeout: float = 120) -> list[str]:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    for out in proc.stdout:
        seen.append(out.rstrip())
        if line in out:
            return seen
        assert time.monotonic() < deadline, seen
    pytest.fail(f"`up` ended before {line!r}: {seen}")


@pytest.fixture(autouse=True)
def _prerequisites():
    require_cluster_prerequisites()
    # `up` has the toolchain build the node first when its sources changed (minutes
    # with a cold Go cache); done here, so the deadlines below time `up`, not the compiler.
    build(select([NODE_PROGRAM, netpol.PROGRAM]), say=lambda line: print(line, file=sys.stderr))
    if netns.exists():
        subprocess.run([sys.executable, "-m", "cluster", "down"], cwd=ROOT, check=True)


def test_ctrl_c_during_up_leaves_nothing():
    proc = _up()
    _until(proc, READY_LINE)
    assert leftovers()  # the cluster is really there
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, rest
    assert "interrupted" in rest
    assert_no_trace()


def test_failed_up_leaves_nothing():
    # A real failure: the Canary cannot be Initialized within one second.
    proc = _up("--timeout", "1")
    out = proc.communicate(timeout=180)[0]
    assert proc.returncode == 1, out
    assert "not Initialized within 1 s" in out
    assert "stopping everything it started" in out
    assert_no_trace()


def test_killed_up_is_cleaned_by_the_next_command():
    proc = _up()
    _until(proc, READY_LINE)
    os.kill(proc.pid, signal.SIGKILL)  # a crash: no clean-up code runs
    proc.wait(timeout=10)
    assert netns.exists() and leftovers()
    down = subprocess.run(
        [sys.executable, "-m", "cluster", "down"], cwd=ROOT, capture_output=True, text=True
    )
    assert down.returncode == 0, down.stderr
    assert_no_trace()
