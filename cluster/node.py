"""The node: its config (written for the kubelet, the Go module in cluster/kubelet/) and
the pod stops it records; the toolchain builds the kubelet binary itself."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cluster import images, layout
from cluster.layout import Paths


def cni_conflist(paths: Paths) -> dict[str, object]:
    start, end = layout.POD_RANGE
    return {
        "cniVersion": "1.0.0",
        "name": layout.CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [
                        [
                            {
                                "subnet": layout.POD_CIDR,
                                "rangeStart": start,
                                "rangeEnd": end,
                                "gateway": layout.NODE_IP,
                            }
                        ]
                    ],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.kubelet_dir / "ipam"),
                },
            }
        ],
    }


def write_config(paths: Paths, image_config: dict[str, object] | None = None) -> Path:
    """image_config: the image-container keys (cluster.image_store.node_config)."""
    config = {
        "nodeName": layout.NODE_NAME,
        "nodeIP": layout.NODE_IP,
        "kubeconfig": str(paths.kubeconfig),
        "runDir": str(paths.kubelet_dir),
        "cniBinDir": str(layout.CNI_BIN_DIR),
        "cniConfList": cni_conflist(paths),
        "dnsServer": layout.DNS_SERVICE_IP,
        "clusterDomain": layout.CLUSTER_DOMAIN,
        "listenAddr": f"{layout.NODE_IP}:{layout.KUBELET_PORT}",
        "tlsCert": str(paths.pki / "kubelet.crt"),
        "tlsKey": str(paths.pki / "kubelet.key"),
        "mountpointLog": str(paths.mountpoints),
        "stopLog": str(paths.pod_stops),
        "programRoots": images.program_roots(paths.bin),
        "images": images.table_json(paths.bin),
        **(image_config or {}),
    }
    paths.kubelet_dir.mkdir(parents=True, exist_ok=True)
    f = paths.root / "kubelet.json"
    f.write_text(json.dumps(config, indent=2))
    return f


@dataclass(frozen=True, kw_only=True)
class PodStop:
    """One container's end when its pod was deleted, as the node recorded it."""

    namespace: str
    pod: str
    container: str
    signalled: float  # SIGTERM sent, epoch seconds
    exit_code: int
    after_s: float  # from SIGTERM to the exit
    grace_s: float
    killed: bool  # SIGKILL after the grace period
    container_id: str = ""  # runc://<id> for an image container, local://<pid> for a program


def pod_stops(paths: Paths) -> list[PodStop]:
    """Every container stop of this cluster's life (none yet: empty)."""
    try:
        lines = paths.pod_stops.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [_pod_stop(json.loads(line)) for line in lines if line.strip()]


def _pod_stop(doc: dict[str, object]) -> PodStop:
    return PodStop(
        namespace=str(doc["namespace"]),
        pod=str(doc["pod"]),
        container=str(doc["container"]),
        signalled=datetime.fromisoformat(str(doc["signalled"])).timestamp(),
        exit_code=int(str(doc["exitCode"])),
        after_s=float(str(doc["afterS"])),
        grace_s=float(str(doc["graceS"])),
        killed=bool(doc["killed"]),
        container_id=str(doc.get("containerID", "")),
    )
