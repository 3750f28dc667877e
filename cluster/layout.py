"""Names, addresses and paths of the local cluster: one place for each."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

NETNS = "order-api-sre-cluster"
NODE_NAME = "order-api-sre-node"
BRIDGE = "cni0"
CNI_NETWORK = "order-api-sre-pods"
CLUSTER_DOMAIN = "cluster.local"

# Addresses exist only inside the cluster's network namespace: it has no
# interface to the host's network, so none of them can be reached from or
# routed to outside.
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"  # the bridge: gateway of the pods, apiserver advertise address
POD_RANGE = ("10.244.0.10", "10.244.0.250")
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
APISERVER_PORT = 6443
ETCD_CLIENT = "http://127.0.0.1:2379"
ETCD_PEER = "http://127.0.0.1:2380"
KUBELET_PORT = 10250
CNI_BIN_DIR = Path("/usr/lib/cni")

RUN_DIR_ENV = "ORDER_API_SRE_CLUSTER_DIR"


def run_dir() -> Path:
    """State of the running cluster (certs, kubeconfig, etcd data, pids, logs).

    Not the cache: pods run as unprivileged users and must reach the program
    copies in it (a cache under /root is not reachable). Not /tmp either: a pod
    mounting an emptyDir on /tmp would hide it from that pod.
    """
    return Path(os.environ.get(RUN_DIR_ENV) or "/var/tmp/order-api-sre-cluster")


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_stops(self) -> Path:
        """How each container of a deleted pod ended (cluster.node.pod_stops)."""
        return self.logs / "pod-stops.jsonl"

    @property
    def mountpoints(self) -> Path:
        """Mount targets the kubelet created on the host; `down` removes them."""
        return self.root / "created-mountpoints"

    @property
    def synthesized(self) -> Path:
        """The profile's values file synthesized (`up --values`), the folder applied."""
        return self.root / "synthesized"

    @property
    def profile(self) -> Path:
        """Which values file the running cluster was brought up with."""
        return self.root / "profile.json"

    @property
    def modes(self) -> Path:
        """Directory modes `up` widened (o+x) so pods can reach the project."""
        return self.root / "widened-modes"


def paths() -> Paths:
    return Paths(run_dir())
