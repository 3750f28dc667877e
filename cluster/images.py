"""The image table: which local program stands for which upstream container image.

The one place that says it. order-api's own image runs as an OCI container
under runc (cluster/image_store.py): its row here is used only where that
image cannot be built (no buildah, runc or umoci, outside CI). A pod whose
image matches no row stays waiting with reason `ImageNotAvailableLocally`
(never Running). Entrypoint and CMD follow each image's own definition, so a
container's `command` replaces the entrypoint and its `args` replace CMD, as
in a container runtime. Aliases map the file names a manifest may use inside
the image to the local programs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.webhook_sink import SINK_IMAGE

PROJECT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ImageRow:
    pattern: str  # path.Match pattern over the image reference
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    working_dir: str = "/"
    path: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "entrypoint": list(self.entrypoint),
            "cmd": list(self.cmd),
            "workingDir": self.working_dir,
            "path": list(self.path),
            "env": self.env,
            "aliases": self.aliases,
        }


def venv_bin() -> Path:
    return Path(sys.executable).parent


def image_table(bin_dir: Path) -> list[ImageRow]:
    """bin_dir holds the toolchain programs copied for the pods (see up.py)."""
    venv = venv_bin()
    order_api = str(venv / "order-api")
    python = str(venv / "python")
    prometheus = str(bin_dir / "prometheus")
    alertmanager = str(bin_dir / "alertmanager")
    loadtester = str(bin_dir / "loadtester")
    flagger = str(bin_dir / "flagger")
    traefik = str(venv / "traefik")
    metrics_server = str(bin_dir / "metrics-server")
    return [
        # The fallback for the image (see the docstring). service/Dockerfile: ENTRYPOINT
        # python -m order_api, CMD --host 0.0.0.0 --port 8080; the console script is the same.
        ImageRow(
            "order-api:*",
            (order_api,),
            ("--host", "0.0.0.0", "--port", "8080"),
            env={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
            aliases={"python": python, "python3": python, "order-api": order_api},
        ),
        # prom/prometheus: ENTRYPOINT /bin/prometheus, WORKDIR /prometheus.
        ImageRow(
            "prom/prometheus:*",
            ("/bin/prometheus",),
            ("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"),
            working_dir="/prometheus",
            aliases={"/bin/prometheus": prometheus, "prometheus": prometheus},
        ),
        # prom/alertmanager: ENTRYPOINT /bin/alertmanager, WORKDIR /alertmanager.
        ImageRow(
            "prom/alertmanager:*",
            ("/bin/alertmanager",),
            ("--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"),
            working_dir="/alertmanager",
            aliases={"/bin/alertmanager": alertmanager, "alertmanager": alertmanager},
        ),
        # flagger-loadtester: WORKDIR /home/app, ./loadtester; hey, curl and bash on PATH.
        ImageRow(
            "ghcr.io/fluxcd/flagger-loadtester:*",
            ("./loadtester",),
            path=(str(bin_dir),),
            aliases={"./loadtester": loadtester, "loadtester": loadtester},
        ),
        ImageRow(
            "ghcr.io/fluxcd/flagger:*",
            ("./flagger",),
            aliases={"./flagger": flagger, "flagger": flagger},
        ),
        # The tests' alert receiver (cluster/webhook_sink.py): the project's own module.
        ImageRow(
            SINK_IMAGE.rpartition(":")[0] + ":*",
            (python, "-m", "cluster.webhook_sink"),
            env={"PYTHONPATH": str(PROJECT), "PYTHONDONTWRITEBYTECODE": "1"},
        ),
        # traefik: its entrypoint script runs `traefik "$@"` when args start with "-".
        ImageRow("docker.io/traefik:*", ("traefik",), aliases={"traefik": traefik}),
        # k3s's bundled Traefik (cluster.traefik_install): the same image, mirrored by Rancher.
        ImageRow("rancher/mirrored-library-traefik:*", ("traefik",), aliases={"traefik": traefik}),
        # metrics-server (distroless): ENTRYPOINT /metrics-server.
        ImageRow(
            "registry.k8s.io/metrics-server/metrics-server:*",
            ("/metrics-server",),
            aliases={"/metrics-server": metrics_server},
        ),
    ]


def program_roots(bin_dir: Path) -> list[str]:
    """Host directories the table's programs live in: the project, its
    virtualenv, the toolchain cache and the pods' bin dir. The kubelet keeps
    them visible under a volume mounted on an ancestor (an emptyDir on /tmp
    over a checkout in /tmp)."""
    from toolchain import cache_root  # neutral package, imported by anyone

    found = (PROJECT, Path(sys.prefix), cache_root(), bin_dir)
    roots = {r.resolve() for r in found if r.exists()}
    # A root inside another is carried by the outer bind.
    return sorted(str(r) for r in roots if not any(o != r and o in r.parents for o in roots))


def table_json(bin_dir: Path) -> list[dict[str, Any]]:
    return [row.to_json() for row in image_table(bin_dir)]
