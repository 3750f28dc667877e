"""The container tool: Docker where an engine answers, else Debian's buildah.

buildah runs daemonless, as root, with chroot isolation and vfs storage in a
project-owned folder (build/containers), and its containers.conf points the
CNI configuration there too, so nothing is written to the system's container
storage or CNI folders. Builds use the host network and never pull: the base
image comes from the local store (see base_image.py).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from release.errors import ReleaseError

ROOT = Path(__file__).resolve().parent.parent
CONTAINERS_DIR = ROOT / "build" / "containers"
DOCKER_PROBE_TIMEOUT_S = 10


@dataclass(frozen=True)
class Engine:
    """How to run the tool: its argv prefix and environment additions."""

    name: str
    argv: tuple[str, ...]
    env: dict[str, str]

    @property
    def is_buildah(self) -> bool:
        return self.name == "buildah"


def _docker_engine() -> Engine | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        probe = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True, text=True, timeout=DOCKER_PROBE_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    if probe.returncode != 0 or not probe.stdout.strip():
        return None
    return Engine("docker", (docker,), {})


def _containers_conf(folder: Path) -> Path:
    """A containers.conf that keeps buildah's CNI configuration inside `folder`."""
    cni = folder / "cni"
    cni.mkdir(parents=True, exist_ok=True)
    conf = folder / "containers.conf"
    conf.write_text(
        "# Written by `make image`: buildah's network config stays in the project.\n"
        f'[network]\nnetwork_config_dir = "{cni}"\n'
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    )
    return conf


def buildah_engine(folder: Path = CONTAINERS_DIR) -> Engine:
    buildah = shutil.which("buildah")
    if buildah is None:
        raise ReleaseError(
            "no Docker engine answers and buildah is not installed: "
            "apt-get install buildah mmdebstrap (Debian), or start Docker"
        )
    folder.mkdir(parents=True, exist_ok=True)
    argv = (
        buildah, "--root", str(folder / "storage"), "--runroot", str(folder / "run"),
        "--storage-driver", "vfs",
    )  # fmt: skip
    env = {"CONTAINERS_CONF": str(_containers_conf(folder)), "BUILDAH_ISOLATION": "chroot"}
    return Engine("buildah", argv, env)


def find_engine() -> Engine:
    """Docker when its engine answers, else buildah."""
    return _docker_engine() or buildah_engine()
