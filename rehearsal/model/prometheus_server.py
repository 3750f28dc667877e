"""A real Prometheus on loopback (Debian `prometheus`) and a small API client."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import toolchain
from order_api import telemetry
from rehearsal.failures import ComponentError
from rehearsal.measure.loopback import LOOPBACK
from rehearsal.measure.prometheus_api import PrometheusAPI
from rehearsal.model.child_processes import (
    PortTaken,
    Process,
    ProcessGroup,
    wait_http,
    with_free_ports,
    write_file,
)
from toolchain import ToolchainError

CONFIG_FILE = "prometheus.yml"


@dataclass(frozen=True)
class ScrapeTarget:
    """A static target carrying the labels the in-cluster relabeling produces."""

    job: str
    address: str
    labels: Mapping[str, str]
    metrics_path: str = telemetry.METRICS_PATH


def prometheus_binary() -> str:
    """The toolchain's Prometheus: the version dist/ deploys, never a system copy."""
    try:
        return str(toolchain.bin_path("prometheus"))
    except ToolchainError as exc:
        raise ComponentError(f"prometheus not found: {exc}") from None


def local_prometheus_config(
    targets: Sequence[ScrapeTarget],
    *,
    scrape_interval_s: float,
    rule_files: Sequence[str] = (),
    honor_labels_jobs: Sequence[str] = (),
) -> dict[str, Any]:
    """A prometheus.yml with one job per (job, path) and static labelled targets."""
    jobs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for target in targets:
        group = {"targets": [target.address], "labels": dict(target.labels)}
        jobs.setdefault((target.job, target.metrics_path), []).append(group)
    interval = f"{int(scrape_interval_s * 1000)}ms"
    scrape_configs = []
    for (job, path), groups in jobs.items():
        scrape: dict[str, Any] = {"job_name": job, "metrics_path": path, "static_configs": groups}
        if job in honor_labels_jobs:
            scrape["honor_labels"] = True
        scrape_configs.append(scrape)
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": list(rule_files),
        "scrape_configs": scrape_configs,
    }


@dataclass(frozen=True)
class Prometheus(PrometheusAPI):
    """A running Prometheus and a small client for its HTTP API."""

    process: Process
    port: int
    workdir: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def wait_targets_up(self, count: int, *, timeout: float = 30.0) -> None:
        """Wait until `count` targets have been scraped successfully."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = self.api("targets", state="active")["activeTargets"]
            if sum(t["health"] == "up" for t in active) >= count:
                return
            time.sleep(0.2)
        raise ComponentError(
            f"Prometheus at {self.url}: fewer than {count} targets up after {timeout:.0f}s"
        )

    def reload(self, config: Mapping[str, Any]) -> None:
        """Rewrite prometheus.yml and apply it (POST /-/reload)."""
        write_config(self.workdir, config)
        request = urllib.request.Request(self.url + "/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except OSError as exc:
            raise ComponentError(f"Prometheus at {self.url} /-/reload: {exc}") from None
        if status != 200:
            raise ComponentError(f"Prometheus at {self.url} /-/reload answered {status}")


def write_config(workdir: Path, config: Mapping[str, Any]) -> None:
    write_file(workdir / CONFIG_FILE, yaml.safe_dump(dict(config), sort_keys=False), "Prometheus")


def start_prometheus(
    group: ProcessGroup,
    *,
    workdir: Path,
    config: Mapping[str, Any],
    rule_files: Mapping[str, str] | None = None,
) -> Prometheus:
    """Start the toolchain's `prometheus` with `config`, its rule files written beside it."""
    binary = prometheus_binary()
    for name, text in (rule_files or {}).items():
        write_file(workdir / name, text, "Prometheus")
    write_config(workdir, config)

    def start(ports: list[int]) -> Prometheus:
        (port,) = ports
        process = group.start(
            "prometheus",
            [
                binary,
                f"--config.file={workdir / CONFIG_FILE}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={LOOPBACK}:{port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
        )
        prometheus = Prometheus(process=process, port=port, workdir=workdir)
        try:
            wait_http(prometheus.url + "/-/ready", process, timeout=30.0)
        except PortTaken:
            group.discard(process)
            raise
        return prometheus

    return with_free_ports(1, start, "prometheus")
