"""Cluster processes: started inside the namespace, recorded by pid, all stopped by `down`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from cluster import netns
from cluster.layout import Paths

# Stopped first: the kubelet ends its pods (SIGTERM, then SIGKILL) itself.
STOP_FIRST = "kubelet"


def start(paths: Paths, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> int:
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.pids.mkdir(parents=True, exist_ok=True)
    with open(paths.logs / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            netns.inside(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal goes to `up`, which stops us
            env={**os.environ, **(env or {})},
        )
    (paths.pids / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def recorded(paths: Paths) -> dict[str, int]:
    out = {}
    if paths.pids.is_dir():
        for f in paths.pids.glob("*.pid"):
            try:
                out[f.stem] = int(f.read_text().strip())
            except ValueError:
                continue
    return out


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the session leader's group: ip netns exec's program and children
    except OSError:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def _wait(pids: Sequence[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left


def stop(pids: Sequence[int], grace: float) -> None:
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    for pid in _wait(pids, grace):
        _signal(pid, signal.SIGKILL)
    _wait(pids, 5)


def in_namespace(ns_inode: int | None, run_dir: Path) -> list[int]:
    """Every process in the cluster namespace, or running a program from the run dir."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        try:
            if ns_inode is not None and os.stat(f"/proc/{pid}/ns/net").st_ino == ns_inode:
                found.append(pid)
                continue
            if os.readlink(f"/proc/{pid}/exe").startswith(str(run_dir) + "/"):
                found.append(pid)
        except OSError:
            continue
    return found


def stop_all(paths: Paths) -> None:
    pids = recorded(paths)
    if STOP_FIRST in pids:
        stop([pids.pop(STOP_FIRST)], grace=15)
    # The control plane's state is thrown away: no need to wait for its
    # graceful shutdown (kube-apiserver takes over 10 s once etcd is gone).
    stop(list(pids.values()), grace=2)
    # Whatever is left in the namespace (a child that escaped its group).
    stray = in_namespace(netns.inode(), paths.root)
    for pid in stray:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    _wait(stray, 5)
