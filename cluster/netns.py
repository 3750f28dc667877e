"""The cluster's network namespace: loopback and the pod bridge, nothing else.

It is created before any address exists and has no interface to the host's
network, so no packet for a ClusterIP, a pod IP or any other address can leave
the machine: the only routes are the pod subnet on the bridge and the service
range pointed at the same bridge (kube-proxy rewrites those in iptables).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from cluster import layout

NETNS_DIR = Path("/run/netns")


def exists() -> bool:
    return (NETNS_DIR / layout.NETNS).exists()


def inside(argv: Sequence[str]) -> list[str]:
    """argv run inside the namespace (ip netns exec also gives it its own /sys)."""
    return ["ip", "netns", "exec", layout.NETNS, *argv]


def run_inside(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(inside(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} (in {layout.NETNS}): {result.stderr.strip()}")
    return result


def create() -> None:
    """The namespace first, then loopback, the bridge and its address, forwarding."""
    subprocess.run(["ip", "netns", "add", layout.NETNS], check=True, capture_output=True)
    prefix = layout.POD_CIDR.split("/")[1]
    for argv in (
        ("ip", "link", "set", "lo", "up"),
        ("ip", "link", "add", layout.BRIDGE, "type", "bridge"),
        ("ip", "addr", "add", f"{layout.NODE_IP}/{prefix}", "dev", layout.BRIDGE),
        ("ip", "link", "set", layout.BRIDGE, "up"),
        # ClusterIPs are rewritten by kube-proxy; the route only lets the
        # namespace's own processes (kubectl, tests) address them.
        ("ip", "route", "add", layout.SERVICE_CIDR, "dev", layout.BRIDGE, "src", layout.NODE_IP),
        ("sysctl", "-qw", "net.ipv4.ip_forward=1"),
        ("sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"),
    ):
        run_inside(*argv)


def delete() -> None:
    if exists():
        subprocess.run(["ip", "netns", "del", layout.NETNS], capture_output=True)


def inode() -> int | None:
    """The namespace's nsfs inode, to find the processes inside it."""
    try:
        return (NETNS_DIR / layout.NETNS).stat().st_ino
    except OSError:
        return None
