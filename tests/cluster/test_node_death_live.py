"""When the node process dies, every pod process dies with it.

Marked `kills_node`: the shared cluster is unusable afterwards, so conftest.py
runs it after every other test of the cluster.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from cluster import lifecycle, supervisor
from cluster.layout import paths

pytestmark = [pytest.mark.live, pytest.mark.kills_node]
POD_UIDS = {10001, 65532, 65534}


def _pod_processes() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    uid = int(next(x for x in f if x.startswith("Uid:")).split()[1])
                if uid in POD_UIDS and supervisor.alive(int(entry)):
                    found.append(int(entry))
            except (OSError, StopIteration):
                continue
    return found


def test_pods_die_with_the_kubelet(cluster):
    assert len(_pod_processes()) >= 5
    (pid,) = [p for name, p in supervisor.recorded(paths()).items() if name == "kubelet"]
    os.killpg(pid, signal.SIGKILL)  # no shutdown code runs: only the parent-death signal
    deadline = time.monotonic() + 10
    while _pod_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _pod_processes()
    # A cluster without its node is never reused, and `status` says why.
    said: list[str] = []
    assert lifecycle.dead_components() == ["kubelet"]
    assert lifecycle.status(say=said.append) == 1
    assert "kubelet exited" in said[0]
