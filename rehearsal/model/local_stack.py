"""The rehearsal's stack on loopback: two order-api tracks, Traefik, Prometheus
and the Flagger-compatible exporter, wired with the names Flagger generates.

Traefik's weighted service stands in for Flagger's TraefikService `<name>`; its
two children carry the names Flagger's TraefikService gives the Kubernetes
Services (`<namespace>-<name>-primary-<port>`, `<namespace>-<name>-canary-<port>`,
`stack.names.AppNames.traefik_backend`), so Flagger's built-in queries match
them once the provider suffix is `@file`. Prometheus scrapes the apps with the
labels the in-cluster relabeling produces (`namespace`, `pod`, `app`:
`<name>-primary` for the primary, `<name>` for the canary) and the exporter
under the `flagger` job with `honor_labels`, as in dist/'s prometheus.yml.

Also used by the live dashboard test, with a fixed weight and the rule files.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rehearsal.failures import ComponentError
from rehearsal.model.apps import AppDidNotBoot, OrderApi, start_order_api
from rehearsal.model.child_processes import Process, ProcessGroup, find_binary
from rehearsal.model.exporter import FlaggerExporter, start_exporter
from rehearsal.model.prometheus_server import (
    Prometheus,
    ScrapeTarget,
    local_prometheus_config,
    prometheus_binary,
    start_prometheus,
)
from rehearsal.model.traefik import TRAEFIK_HINT, Backend, Traefik, start_traefik
from rehearsal.outcome import Track
from rehearsal.spec.canary_spec import Canary
from stack.config import TRAEFIK_LATENCY_BUCKETS
from stack.names import CANARY, PRIMARY, AppNames
from stack.scrape import (
    APP_JOB,
    APP_LABEL,
    FLAGGER_JOB,
    NAMESPACE_LABEL,
    POD_LABEL,
    TRAEFIK_JOB,
)

TRAEFIK_POD = "traefik-rehearsal"
FLAGGER_POD = "flagger-rehearsal"
# SIGTERM to SIGKILL for a track Flagger scaled down (Kubernetes' grace period).
STOP_GRACE_S = 5.0
TOTAL_WEIGHT = 100


class CanaryDidNotBoot(ComponentError):
    """The new version never became ready: a failed release, not a failed rehearsal."""


def preflight() -> None:
    """Fail before starting anything when a binary is missing."""
    prometheus_binary()
    find_binary("traefik", TRAEFIK_HINT)


def app_labels(names: AppNames, track: str, pod: str) -> dict[str, str]:
    """The labels the in-cluster relabeling gives a pod of `track` (stack.scrape)."""
    return {NAMESPACE_LABEL: names.namespace, POD_LABEL: pod, APP_LABEL: names.track_app(track)}


@dataclass
class Stack:
    canary_spec: Canary
    names: AppNames
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
    rule_files: tuple[str, ...] = ()
    generation: int = 1
    canary_weight: int = 0
    stopped: list[Process] = field(default_factory=list)
    _stopping: list[threading.Thread] = field(default_factory=list)

    def backend_name(self, track: str) -> str:
        return self.names.traefik_backend(track, self.canary_spec.service_port)

    def services(self) -> dict[str, str]:
        """In-cluster Service names -> loopback URLs (for webhook URLs)."""
        n = self.names
        urls = {n.track_service(PRIMARY): self.primary.url, n.name: self.primary.url}
        if self.canary is not None:
            urls[n.track_service(CANARY)] = self.canary.url
            urls[CANARY] = self.canary.url
        return urls

    def resolve(self, url: str) -> tuple[str, int]:
        """Where a webhook command's in-cluster URL goes here: a rehearsed Service,
        else (the ingress, `http://traefik.traefik/...`) the local Traefik."""
        host = (urlsplit(url).hostname or "").split(".")[0]
        target = self.services().get(host, self.traefik.url)
        parts = urlsplit(target)
        return parts.hostname or "127.0.0.1", parts.port or 80

    # --- routing -----------------------------------------------------------

    def backends(self, canary_weight: int) -> list[Backend]:
        canary_url = self.canary.url if self.canary else self.primary.url
        return [
            Backend(self.backend_name(PRIMARY), self.primary.url, TOTAL_WEIGHT - canary_weight),
            Backend(self.backend_name(CANARY), canary_url, canary_weight),
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
        self.primary_pod = f"{self.names.primary}-rehearsal-{self.generation}"
        self.primary = start_order_api(
            self.group, name=f"primary-{self.generation}", version=track.version, env=track.env
        )
        self.prometheus.reload(self.prometheus_config())
        self.traefik.set_backends(self.backends(self.canary_weight))
        self.traefik.wait_servers(self.backend_name(PRIMARY), [self.primary.url])
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
            self.names,
            primary=(self.primary.address, self.primary_pod),
            canary=(self.canary.address, self.canary_pod) if self.canary else None,
            traefik_address=self.traefik.admin_address,
            exporter_address=self.exporter.address,
        )

    def prometheus_config(self) -> dict[str, Any]:
        return prometheus_config(self.scrape_targets(), self.scrape_interval_s, self.rule_files)

    def close(self) -> None:
        for thread in self._stopping:
            thread.join()
        self.exporter.close()


def scrape_targets(
    names: AppNames,
    *,
    primary: tuple[str, str],
    canary: tuple[str, str] | None,
    traefik_address: str,
    exporter_address: str,
) -> list[ScrapeTarget]:
    """Every target with its in-cluster labels; `primary`/`canary` are (address, pod)."""
    apps = [(primary, PRIMARY)] + ([(canary, CANARY)] if canary else [])
    return [
        *(
            ScrapeTarget(job=APP_JOB, address=address, labels=app_labels(names, track, pod))
            for (address, pod), track in apps
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


def prometheus_config(
    targets: list[ScrapeTarget], scrape_interval_s: float, rule_files: tuple[str, ...] = ()
) -> dict[str, Any]:
    # flagger_canary_* carry the Canary's own `namespace` label (as in dist/).
    return local_prometheus_config(
        targets,
        scrape_interval_s=scrape_interval_s,
        rule_files=rule_files,
        honor_labels_jobs=(FLAGGER_JOB,),
    )


def start_stack(
    *,
    group: ProcessGroup,
    workdir: Path,
    canary_spec: Canary,
    host: str,
    primary: Track,
    canary: Track,
    scrape_interval_s: float,
    canary_weight: int = 0,
    rule_files: Mapping[str, str] | None = None,
) -> Stack:
    """Start everything, the canary at `canary_weight` (0: primary serving 100 %),
    and wait until Prometheus scrapes it all. A canary that never gets ready
    raises CanaryDidNotBoot."""
    preflight()
    names = AppNames(name=canary_spec.target, namespace=canary_spec.namespace)
    primary_app = start_order_api(group, name="primary", version=primary.version, env=primary.env)
    try:
        canary_app = start_order_api(group, name="canary", version=canary.version, env=canary.env)
    except AppDidNotBoot as exc:
        raise CanaryDidNotBoot(f"the canary ({canary.version}) did not boot: {exc}") from None
    exporter = start_exporter(target=names.name, namespace=names.namespace)
    try:
        port = canary_spec.service_port
        traefik = start_traefik(
            group,
            workdir=workdir / "traefik",
            router=f"{names.namespace}-{canary_spec.name}",
            host=host,
            backends=[
                Backend(
                    names.traefik_backend(PRIMARY, port),
                    primary_app.url,
                    TOTAL_WEIGHT - canary_weight,
                ),
                Backend(names.traefik_backend(CANARY, port), canary_app.url, canary_weight),
            ],
            latency_buckets=TRAEFIK_LATENCY_BUCKETS,
        )
        primary_pod, canary_pod = f"{names.primary}-rehearsal-1", f"{names.name}-rehearsal-1"
        targets = scrape_targets(
            names,
            primary=(primary_app.address, primary_pod),
            canary=(canary_app.address, canary_pod),
            traefik_address=traefik.admin_address,
            exporter_address=exporter.address,
        )
        files = tuple(sorted(rule_files or {}))
        prometheus = start_prometheus(
            group,
            workdir=workdir / "prometheus",
            config=prometheus_config(targets, scrape_interval_s, files),
            rule_files=rule_files,
        )
        prometheus.wait_targets_up(len(targets))
    except BaseException:
        exporter.close()
        raise
    if canary_weight:
        exporter.record_weight(canary_weight)
    return Stack(
        canary_spec=canary_spec,
        names=names,
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
        rule_files=files,
        canary_weight=canary_weight,
    )
