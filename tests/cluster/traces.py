"""What a stopped cluster must not leave: process, namespace, mount, folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cluster import container_cgroups, layout, netns


def leftovers() -> list[str]:
    root = str(layout.run_dir())
    found = []
    if netns.exists():
        found.append(f"network namespace {layout.NETNS}")
    if Path(root).exists():
        found.append(f"run directory {root}")
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {line.split()[4]}" for line in f if root in line]
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if exe.startswith(root) or root in cmdline:
            found.append(f"process {entry}: {cmdline[:120]}")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    if f": {layout.BRIDGE}:" in links or f": {layout.BRIDGE}@" in links:
        found.append(f"bridge {layout.BRIDGE} in the host namespace")
    found += [f"cgroup {p}" for p in container_cgroups.leftover_cgroups()]
    for path in ("/prometheus", "/run/secrets/kubernetes.io"):
        if Path(path).exists():
            found.append(f"mount point {path}")
    return found


def assert_no_trace() -> None:
    left = leftovers()
    assert not left, "left behind: " + "; ".join(left)
