"""NetworkPolicies enforced as on k3s: kube-router's network-policy controller.

The toolchain builds it from toolchain/netpol/ (kube-router's netpol package
alone, firewall-only: kube-proxy keeps the Services). It runs in the cluster's
network namespace, where the pods' bridged traffic traverses the filter
table's FORWARD chain (bridge netfilter is on per namespace), and writes its
chains and ipsets there only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cluster import layout, netns, supervisor
from cluster.layout import Paths

PROGRAM = "kube-router-netpol"
# The Debian package the controller keeps its peer sets with.
IPSET = "ipset"
# kube-router's hooks in the filter table's built-in chains.
TOP_CHAINS = ("KUBE-ROUTER-INPUT", "KUBE-ROUTER-FORWARD", "KUBE-ROUTER-OUTPUT")
# Appended to each top chain by the first full sync's iptables-restore: its
# presence means the controller has written the filter table once.
SYNCED_MARK = "rule to explicitly ACCEPT traffic that comply to network policies"
# The controller's one rule of ours (--kube-proxy-first), by its comment.
PROXY_FIRST_COMMENT = "kube-proxy service rules first, as k3s orders them"
# Bridged pod-to-pod packets reach iptables only with this on.
BRIDGE_NF_SYSCTL = "net.bridge.bridge-nf-call-iptables"
NODE_PORT_RANGE = "30000-32767"
ENFORCING = f"{PROGRAM} enforcing NetworkPolicies (kube-router, firewall only)"
# (check, what) -> None: waits until check() holds, failing with `what`.
Wait = Callable[[Callable[[], bool], str], None]


class NetpolError(RuntimeError):
    """A message for the user: what is missing to enforce the policies."""


def argv(tool: Path, p: Paths) -> list[str]:
    return [
        str(tool),
        f"--kubeconfig={p.kubeconfig}",
        f"--hostname-override={layout.NODE_NAME}",
        f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
        f"--node-port-range={NODE_PORT_RANGE}",
        # kube-proxy's REJECT of a Service without endpoints before the
        # policies' ACCEPT, in the order k3s's build of kube-router keeps
        # (toolchain/netpol/main.go says why).
        "--kube-proxy-first",
    ]


def bridge_netfilter_on() -> bool:
    result = netns.run_inside("sysctl", "-n", BRIDGE_NF_SYSCTL, check=False)
    return result.returncode == 0 and result.stdout.strip() == "1"


def ensure_bridge_netfilter() -> None:
    """Turn bridge netfilter on in the namespace; without it the policies would
    cover only routed packets, and pod-to-pod traffic on the bridge would pass."""
    netns.run_inside("sysctl", "-qw", f"{BRIDGE_NF_SYSCTL}=1", check=False)
    if not bridge_netfilter_on():
        raise NetpolError(
            f"{BRIDGE_NF_SYSCTL} is not 1 in {layout.NETNS}: load br_netfilter "
            "(modprobe br_netfilter), or pod-to-pod traffic escapes the policies"
        )


def filter_table() -> str:
    return netns.run_inside("iptables-save", "-t", "filter").stdout


def synced() -> bool:
    """True once the controller's first full sync is in the filter table."""
    rules = filter_table()
    return all(f"-A {chain} " in rules and SYNCED_MARK in rules for chain in TOP_CHAINS)


def start(p: Paths, tool: Path, wait: Wait) -> None:
    """Started once the node is Ready (its InternalIP is how the controller
    finds its pods) and before dist/ is applied; returns after its first sync."""
    ensure_bridge_netfilter()
    supervisor.start(p, PROGRAM, argv(tool, p))
    wait(synced, f"{PROGRAM}'s first sync of the filter table")
