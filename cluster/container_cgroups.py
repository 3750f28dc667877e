"""What runc containers can leave on the machine when the node dies: cgroups.

The kubelet puts each container's cgroup under `order-api-sre/` in every
hierarchy and runc removes it when the container is deleted; a node killed
outright leaves them (its containers die with it: see cluster/kubelet/runc.go).
`down` deletes whatever runc still records, then removes the empty cgroups.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "order-api-sre"  # the kubelet's runcCgroupParent


def runc_root(kubelet_dir: Path) -> Path:
    return kubelet_dir / "runc"


def remove_leftovers(kubelet_dir: Path) -> None:
    runc = shutil.which("runc")
    state = runc_root(kubelet_dir)
    if runc and state.is_dir():
        for container in state.iterdir():
            subprocess.run(
                [runc, "--root", str(state), "delete", "--force", container.name],
                capture_output=True, check=False,
            )  # fmt: skip
    for parent in leftover_cgroups():
        # Deepest first: a cgroup is removed with rmdir once its children are.
        for path in sorted(parent.rglob("*"), key=lambda p: -len(p.parts)):
            if path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()
        with contextlib.suppress(OSError):
            parent.rmdir()


def leftover_cgroups() -> list[Path]:
    """The node's cgroup parents still present (v1 hierarchies and v2)."""
    if not CGROUP_ROOT.is_dir():
        return []
    found = [CGROUP_ROOT / PARENT] + [h / PARENT for h in CGROUP_ROOT.iterdir() if h.is_dir()]
    return [p for p in found if os.path.isdir(p)]
