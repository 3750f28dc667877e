"""`python -m rehearsal --engine flagger`: the real Flagger decides, on the local cluster.

1. The cluster (`cluster/`) is brought up if it is not running, reused if it is.
2. The release is synthesized by synth from a values file
   (rehearsal.oncluster.cluster_release): the new image tag, the scenario's faults and
   the compressed time settings.
3. Applied in two steps: first everything but the order-api workload (the
   Canary's new interval and windows, Prometheus' scrape interval: its pod is
   recreated, so that wait comes before the analysis), then the whole folder:
   the changed Deployment is the new revision Flagger rolls out.
4. Flagger runs the analysis itself: its webhooks call the real loadtester,
   which runs the Canary's curl and hey through the real Traefik; its queries
   read the Prometheus of dist/; its decisions move the TraefikService weights.
   The rehearsal only watches (rehearsal.oncluster.cluster_watch) and measures: a client
   sends orders through Traefik's Service inside the cluster's network
   namespace, counting answers by status and X-App-Version.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from order_api import telemetry
from rehearsal.failures import CannotRun, ComponentError, Interrupted
from rehearsal.measure.http_probe import http_get
from rehearsal.measure.load import HeyRun, LoadCounter, LoadCounts, Request
from rehearsal.measure.prometheus_api import PrometheusAPI
from rehearsal.oncluster import cluster_watch as watch
from rehearsal.oncluster.cluster_release import (
    config_of,
    faults_values,
    release_values,
    synthesize_release,
    time_settings,
    user_values,
)
from rehearsal.oncluster.netns_threads import NetnsError, NetnsExecutor, enter
from rehearsal.outcome import Ask, ClusterFacts, Listener, Options, Outcome, TickRecord, Track
from rehearsal.spec.canary_spec import Canary, SpecError, ingress_host, load_canary
from rehearsal.spec.flagger_analysis import Status
from rehearsal.spec.scenarios import SCENARIOS
from rehearsal.spec.webhook_commands import CONTRACT_ORDER
from stack.config import VALUES_ENV, ConfigError, StackConfig, load_config
from stack.names import app_names
from synth.manifest_files import file_holding, objects_in

POLL_S = 1.0
# The measuring client: a customer's steady trickle, bounded in rate and time.
CLIENT_RATE = 10.0
CLIENT_WORKERS = 2
SETTLE_S = 4.0
GAUGE_WAIT_S = 8.0
CONTROL_LOOP_S = 10.0  # Flagger's -control-loop-interval default
# Ticks beyond the ones the analysis needs before "no verdict" is an error.
SPARE_TICKS = 8


class EngineError(RuntimeError):
    """The Flagger rehearsal could not run (exit 2); the message says what to do."""


@dataclass(frozen=True, kw_only=True)
class FlaggerRun:
    scenario: str
    canary_env: Mapping[str, str]
    canary_version: str | None = None
    extra_values: Mapping[str, Any] = field(default_factory=dict)
    # Edits the synthesized folder before it is applied (tests: the Canary before a fix).
    prepare: Callable[[Path], None] | None = None
    # Orders/s of the measuring client; 0: none (a Canary whose windows must hold
    # only its own load, as the one without load-test-start).
    client_rate: float = CLIENT_RATE


class ClusterPrometheus(PrometheusAPI):
    """dist/'s Prometheus, reached at its Service from threads in the cluster's netns."""

    def __init__(self, executor: NetnsExecutor, address: str) -> None:
        self.executor, self.address = executor, address

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def get(self, url: str) -> tuple[int, bytes]:
        return self.executor.run(http_get, url, timeout=10.0)


def _kubectl(*args: str, check: bool = True, timeout: float = 120) -> str:
    from cluster.client import KubectlError, kubectl

    try:
        return kubectl(*args, check=check, timeout=timeout).stdout
    except KubectlError as exc:
        raise EngineError(str(exc)) from None


def _get(*args: str) -> Any:
    import json

    return json.loads(_kubectl("get", *args, "-o", "json"))


def profile_values_file(env: Mapping[str, str]) -> Path | None:
    """The values file the rehearsal's production settings come from (None: dist/'s)."""
    return Path(env[VALUES_ENV]).resolve() if env.get(VALUES_ENV) else None


def ensure_cluster(say: Callable[[str], None], values_file: Path | None = None) -> float:
    """Seconds spent bringing the cluster up with `values_file`'s profile (0 when it
    was running with it)."""
    from cluster import lifecycle
    from cluster.profile import running_values_file

    if lifecycle.is_running():
        dead = lifecycle.dead_components()
        other = running_values_file() != values_file
        if not dead and not other and _api_ready():
            return 0.0
        why = (
            f"{', '.join(dead)} exited"
            if dead
            else f"with the profile {running_values_file() or 'dist/'}"
            if other
            else "its API server does not answer"
        )
        say(f"cluster: running, but {why}; bringing it up afresh (python -m cluster up)")
    else:
        say("cluster: not running; bringing it up (python -m cluster up)")
    try:
        return lifecycle.up(say, timeout=300, values_file=values_file)
    except lifecycle.ClusterError as exc:
        raise EngineError(f"the local cluster did not come up: {exc}") from None


def _api_ready() -> bool:
    from cluster.client import kubectl

    try:
        return kubectl("get", "--raw=/readyz", check=False, timeout=10).returncode == 0
    except (OSError, Exception):
        return False


def _container_version(doc: Mapping[str, Any]) -> str:
    container = doc["spec"]["template"]["spec"]["containers"][0]
    for env in container.get("env") or []:
        if env.get("name") == "ORDER_API_VERSION" and env.get("value"):
            return str(env["value"])
    return str(container.get("image", "")).rpartition(":")[2]


def current_versions(config: StackConfig) -> tuple[str, str]:
    """(the primary's version, the target Deployment's version) in the cluster."""
    names = app_names(config)
    primary = _get("-n", config.namespace, "deployment", names.primary)
    target = _get("-n", config.namespace, "deployment", names.name)
    return _container_version(primary), _container_version(target)


def new_version(wanted: str | None, base: str, taken: set[str]) -> str:
    """The canary's version: as asked, else `<base>-canary`, made unique so that
    the Deployment changes (an unchanged one is no new revision)."""
    if wanted:
        return wanted
    version, n = f"{base}-canary", 1
    while version in taken:
        n += 1
        version = f"{base}-canary.{n}"
    return version


def _apply(folder: Path, *, skip: str | None = None) -> None:
    files = sorted(p for p in folder.glob("*.k8s.yaml") if p.name != skip)
    args = [arg for f in files for arg in ("-f", str(f))]
    _kubectl("apply", *args)


def workload_file(folder: Path, config: StackConfig) -> str:
    """The file with the app's Deployment: its change is the new revision."""
    return file_holding(folder, "Deployment", config.app.name).name


def prometheus_deployment(folder: Path, config: StackConfig) -> str:
    """The Deployment beside the Prometheus Service in the synthesized folder."""
    path = file_holding(folder, "Service", config.monitoring.prometheus_service)
    names = [o["metadata"]["name"] for o in objects_in(path) if o.get("kind") == "Deployment"]
    if len(names) != 1:
        raise EngineError(f"{path}: expected one Prometheus Deployment, found {names}")
    return str(names[0])


@dataclass(frozen=True, kw_only=True)
class FlaggerInstall:
    """Where the cluster's Flagger runs: its log is what the watcher reads."""

    namespace: str
    deployment: str


def flagger_install(config: StackConfig) -> FlaggerInstall:
    from stack import chart_values

    # The chart names its Deployment after the documented release.
    release = chart_values.flagger(config).release
    return FlaggerInstall(namespace=config.monitoring.flagger_namespace, deployment=release)


@dataclass
class Watcher:
    """Reads the Canary, Flagger's log, the weights and the gauges; builds ticks."""

    canary: Canary
    flagger: FlaggerInstall
    prometheus: ClusterPrometheus
    counter: LoadCounter
    started_at: float  # unix time of the apply
    factor: float
    out: Callable[[TickRecord], None]
    grouper: watch.TickGrouper = field(init=False)
    status: Status = field(default_factory=Status)
    previous_load: LoadCounts = field(default_factory=LoadCounts)
    ticks: list[TickRecord] = field(default_factory=list)
    seen_active: bool = False

    def __post_init__(self) -> None:
        self.grouper = watch.TickGrouper(span_s=self.canary.interval_s / 2)

    @property
    def key(self) -> str:
        return self.canary.loadtester_key

    def canary_status(self) -> watch.CanaryStatus:
        return watch.canary_status(_get("-n", self.canary.namespace, "canary", self.canary.name))

    def log_lines(self) -> list[watch.LogLine]:
        text = _kubectl(
            "logs", "-n", self.flagger.namespace, f"deployment/{self.flagger.deployment}"
        )
        return [
            line
            for line in watch.flagger_log_lines(text, self.key)
            if line.at >= self.started_at - 0.5
        ]

    def weights(self) -> dict[str, int]:
        try:
            doc = _get("-n", self.canary.namespace, "traefikservice", self.canary.name)
        except EngineError:
            return {}
        return watch.traefik_weights(doc)

    def gauges(self, since: float) -> dict[str, float]:
        """flagger_canary_metric_analysis from a scrape after `since` (the tick's last
        line: Flagger set the gauges before it), waiting a few scrapes for one."""
        selector = (
            f'flagger_canary_metric_analysis{{name="{self.canary.name}",'
            f'namespace="{self.canary.namespace}"}}'
        )
        deadline = time.time() + GAUGE_WAIT_S
        while True:
            stamps = self.prometheus.query(f"timestamp({selector})")
            if (stamps and max(v for _, v in stamps) >= since) or time.time() > deadline:
                return watch.gauges_of(self.prometheus.query(selector))
            time.sleep(0.5)

    def poll(self) -> bool:
        """One look at the cluster; True once Flagger reached a verdict."""
        lines = self.log_lines()
        now = time.time()
        state = self.canary_status()
        # The status before the apply is the previous rollout's verdict: wait for a new one.
        self.seen_active = self.seen_active or state.active
        for group in self.grouper.feed(lines, now=now):
            self._tick(group, state)
        if not (self.seen_active and state.status.phase.terminal):
            return False
        # The verdict: let its last lines reach the log, then close the last tick.
        time.sleep(self.grouper.quiet_s)
        later = time.time() + self.grouper.quiet_s
        for group in self.grouper.feed(self.log_lines(), now=later) + self.grouper.flush():
            self._tick(group, state)
        if not self.ticks or self.ticks[-1].transition.after != state.status:
            self._tick([], state)  # the status moved without a line (yet)
        return True

    def _tick(self, group: list[watch.LogLine], state: watch.CanaryStatus) -> None:
        messages = [line.message for line in group]
        before = self.status if self.ticks else Status()
        transition = watch.transition_of(before, state.status, messages)
        hooks = watch.hooks_of(messages)
        analysed = watch.analysed(transition) and all(h.passed for h in hooks)
        halt = watch.halt_of(messages, self.canary)
        metrics = (
            watch.tick_metrics(
                self.canary, analysed=True, halt=halt, gauges=self.gauges(group[-1].at)
            )
            if analysed and group
            else []
        )
        counts = self.counter.snapshot()
        real_s = (group[0].at if group else time.time()) - self.started_at
        record = TickRecord(
            tick=len(self.ticks) + 1,
            slot=round(real_s / self.canary.interval_s),
            real_s=real_s,
            simulated_s=real_s * self.factor,
            transition=transition,
            metrics=metrics,
            hooks=hooks,
            load=counts.minus(self.previous_load),
            routes=self.weights(),
        )
        self.previous_load = counts
        self.status = state.status
        self.ticks.append(record)
        self.out(record)


def _ticks_needed(canary: Canary) -> int:
    steps = len(canary.step_weights) or -(-canary.max_weight // max(1, canary.step_weight))
    return 2 + steps + canary.threshold + 2


def _cluster_events(canary: Canary, since: float) -> list[str]:
    doc = _get(
        "events",
        "-n",
        canary.namespace,
        f"--field-selector=involvedObject.name={canary.name},involvedObject.kind=Canary",
    )
    tracker = watch.EventTracker(since=since - 1)
    return [f"{e.type}: {e.message} (x{e.count})" for e in tracker.feed(doc)]


@dataclass
class Prepared:
    canary: Canary
    options: Options
    folder: Path
    values_path: Path
    production: StackConfig
    factor: float
    production_interval_s: int


def prepare_release(run: FlaggerRun, workdir: Path, *, scenario_env: Mapping[str, str]) -> Prepared:
    """Synthesize the release into `workdir/release` and read its Canary."""
    env = dict(os.environ)
    production = load_config(env=env)
    times = time_settings(production)
    primary_version, target_version = current_versions(production)
    version = new_version(
        run.canary_version, production.app.image_tag, {primary_version, target_version}
    )
    faults = faults_values({**scenario_env, **run.canary_env})
    values = release_values(
        version=version,
        faults=faults,
        times=times,
        user_values=user_values(env),
        extra=run.extra_values,
    )
    folder = workdir / "release"
    values_path = synthesize_release(values, folder, env)
    if run.prepare is not None:
        run.prepare(folder)
    canary = load_canary(folder)
    config = config_of(values_path)
    load = next((h.hey() for h in canary.load_hooks()), None)
    host = ingress_host(folder, canary) or config.ingress.host
    options = Options(
        dist=folder,
        speed=1.0,
        rate=None,  # the Canary's own hey rate; the measuring client is separate
        scrape_interval_s=float(times.scrape_interval_s),
        primary=Track(version=primary_version),
        canary=Track(version=version, env={**scenario_env, **run.canary_env}),
        host=host,
        probe_body=(load.body if load and load.body else CONTRACT_ORDER),
        probe_path=(load.path if load else telemetry.ORDER_PATH),
    )
    return Prepared(
        canary=canary,
        options=options,
        folder=folder,
        values_path=values_path,
        production=production,
        factor=times.factor,
        production_interval_s=times.production_interval_s,
    )


def _compression_text(prepared: Prepared) -> str:
    p, r = prepared.production, config_of(prepared.values_path)
    # The interval and windows as applied: a `prepare` step may have edited the Canary.
    windows = "/".join(f"{w:g}s" for w in sorted({m.interval_s for m in prepared.canary.metrics}))
    return (
        f"  time compressed x{prepared.factor:g} through the config: interval "
        f"{p.canary.interval_s}s -> {prepared.canary.interval}, metric windows "
        f"{p.canary.metric_window_s}s -> {windows}, scrape "
        f"{p.monitoring.scrape_interval_s}s -> {r.monitoring.scrape_interval_s}s, load "
        f"{p.canary.load_rps} -> {r.canary.load_rps} orders/s (the same orders per window)"
    )


def _service_address(namespace: str, name: str, port: int | str) -> str:
    """ClusterIP:port of a Service; a port given by name is looked up in its spec."""
    spec = _get("-n", namespace, "service", name).get("spec") or {}
    ip = str(spec.get("clusterIP") or "")
    if not ip:
        raise EngineError(f"Service {namespace}/{name} has no ClusterIP")
    if isinstance(port, str):
        numbers = [p["port"] for p in spec.get("ports") or [] if p.get("name") == port]
        if not numbers:
            raise EngineError(f"Service {namespace}/{name} has no port named {port}")
        port = int(numbers[0])
    return f"{ip}:{port}"


def traefik_address(config: StackConfig) -> str:
    """The Service of the Traefik that serves users, at its entry point's port."""
    return _service_address(
        config.monitoring.traefik_namespace,
        config.ingress.traefik_service,
        config.ingress.entry_point,
    )


def _wait_idle(canary: Canary, say: Callable[[str], None], timeout: float) -> None:
    """Refuse to start while another analysis of this Canary runs in the cluster."""
    deadline = time.monotonic() + timeout
    state = watch.canary_status(_get("-n", canary.namespace, "canary", canary.name))
    if state.active:
        say(f"waiting for the Canary's current analysis to end (phase {state.phase})")
    while state.active:
        if time.monotonic() > deadline:
            raise EngineError(
                f"Canary {canary.namespace}/{canary.name} is still {state.phase} after "
                f"{timeout:.0f} s: another rollout is running in the cluster"
            )
        time.sleep(POLL_S)
        state = watch.canary_status(_get("-n", canary.namespace, "canary", canary.name))


def _applied_interval(canary: Canary) -> str:
    doc = _get("-n", canary.namespace, "canary", canary.name)
    return str(((doc.get("spec") or {}).get("analysis") or {}).get("interval", ""))


def _wait_prometheus(
    prometheus: ClusterPrometheus, canary: Canary, deployment: str, timeout: float
) -> None:
    _kubectl(
        "-n",
        canary.namespace,
        "rollout",
        "status",
        f"deployment/{deployment}",
        f"--timeout={int(timeout)}s",
        timeout=timeout + 10,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if prometheus.query('count(up{job="flagger"} == 1)'):
                return
        except Exception:  # not answering yet: its pod is starting
            pass
        time.sleep(POLL_S)
    raise EngineError(f"dist/'s Prometheus did not scrape Flagger within {timeout:.0f} s")


def rehearse_on_flagger(
    run: FlaggerRun,
    *,
    scenario_env: Mapping[str, str],
    out: Callable[[TickRecord], None],
    announce: Callable[[str], None],
    before_teardown: Callable[[Outcome, PrometheusAPI], None] | None = None,
    describe: Callable[[Canary, Options], None] | None = None,
) -> Outcome:
    """Run one release through the real Flagger. Interrupted once the release is
    prepared, it returns what ran, marked `interrupted` (the cluster keeps the
    release and Flagger finishes its analysis); before that it raises."""
    from cluster.layout import NETNS

    started = time.monotonic()
    cluster_s = ensure_cluster(announce, profile_values_file(os.environ))
    executor = NetnsExecutor(NETNS, workers=2)
    with tempfile.TemporaryDirectory(prefix="rehearsal-flagger-") as tmp:
        prepared = prepare_release(run, Path(tmp), scenario_env=scenario_env)
        canary, options = prepared.canary, prepared.options
        cluster = ClusterFacts(
            production_factor=prepared.factor,
            production_interval_s=prepared.production_interval_s,
        )
        outcome = Outcome(canary=canary, options=options, cluster=cluster)
        if describe is not None:
            describe(canary, options)
        announce(_compression_text(prepared))
        prometheus = ClusterPrometheus(
            executor,
            _service_address(
                canary.namespace,
                prepared.production.monitoring.prometheus_service,
                prepared.production.monitoring.prometheus_port,
            ),
        )
        client: HeyRun | None = None
        try:
            _wait_idle(canary, announce, timeout=600)
            interval_before = _applied_interval(canary)
            applied = time.monotonic()
            production = prepared.production
            _apply(prepared.folder, skip=workload_file(prepared.folder, production))
            _wait_prometheus(
                prometheus,
                canary,
                prometheus_deployment(prepared.folder, production),
                timeout=120,
            )
            if interval_before != canary.interval:
                # Flagger restarts the Canary's job on a new interval at its next control
                # loop (every 10 s); before that the old interval would time the first tick.
                time.sleep(max(0.0, applied + CONTROL_LOOP_S + 1 - time.monotonic()))
            traefik = traefik_address(production)
            outcome.startup_s = time.monotonic() - started
            announce(
                f"cluster {'up' if cluster_s else 'reused'}"
                + (f" in {cluster_s:.0f} s" if cluster_s else "")
                + f"; release synthesized and its time settings applied in "
                f"{outcome.startup_s - cluster_s:.1f} s; Traefik {traefik} "
                f"(Host: {options.host}), Prometheus {prometheus.url}, inside the cluster's "
                "network namespace"
            )
            counter = LoadCounter()
            if run.client_rate > 0:  # its orders reach the canary too, like any customer's
                client = _client(traefik, options, counter, run.client_rate, canary).start()
            outcome.analysis_started_at = time.time()
            outcome.analysis_started_mono = time.monotonic()
            _apply(prepared.folder)
            announce(
                f"applied {options.canary.version}: Flagger runs the analysis (interval "
                f"{canary.interval}; x{prepared.factor:g} = production)"
            )
            watcher = Watcher(
                canary=canary,
                flagger=flagger_install(production),
                prometheus=prometheus,
                counter=counter,
                started_at=outcome.analysis_started_at,
                factor=prepared.factor,
                out=out,
                ticks=outcome.ticks,
            )
            budget = (_ticks_needed(canary) + SPARE_TICKS) * canary.interval_s + 120
            deadline = time.monotonic() + budget
            while not watcher.poll():
                if time.monotonic() > deadline:
                    raise EngineError(
                        f"Flagger reached no verdict within {budget:.0f} s "
                        f"(phase {watcher.canary_status().phase}); "
                        f"see python -m cluster kubectl -n {canary.namespace} describe "
                        f"canary {canary.name}"
                    )
                time.sleep(POLL_S)
            outcome.verdict_at = time.time()
            outcome.load_total = counter.snapshot()
            time.sleep(SETTLE_S)
            outcome.final_routes = watcher.weights()
            outcome.after_verdict = counter.snapshot().minus(outcome.load_total)
            cluster.events = _cluster_events(canary, outcome.analysis_started_at)
        except Interrupted as exc:
            outcome.interrupted = f"interrupted by {exc} after {len(outcome.ticks)} ticks"
        except BaseException as exc:
            if not isinstance(exc, EngineError | ComponentError | OSError):
                outcome.interrupted = outcome.interrupted or (
                    f"interrupted by {exc} after {len(outcome.ticks)} ticks"
                )
            raise
        finally:
            if client is not None:
                client.stop()
            if before_teardown is not None and outcome.ticks:
                before_teardown(outcome, prometheus)
            executor.close()
    return outcome


def _client(
    traefik: str,
    options: Options,
    counter: LoadCounter,
    rate: float,
    canary: Canary,
) -> HeyRun:
    from cluster.layout import NETNS

    host, _, port = traefik.rpartition(":")
    longest = (_ticks_needed(canary) + SPARE_TICKS) * canary.interval_s + 180
    return HeyRun(
        address=(host, int(port)),
        request=Request(
            method="POST",
            path=options.probe_path,
            host=options.host,
            body=options.probe_body.encode(),
            content_type="application/json",
        ),
        counter=counter,
        workers=CLIENT_WORKERS,
        rate=rate,
        duration_s=longest,
        requests=0,
        timeout_s=10.0,
        thread_init=lambda: enter(NETNS),
    )


def _extra_values(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--values {path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--values {path}: expected a mapping of settings")
    return data


def _refuse_model_flags(ask: Ask) -> None:
    """Flags that mean nothing to the real Flagger are refused, not ignored."""
    if ask.rate is not None:
        raise ValueError("--rate is the model engine's: Flagger runs the Canary's own hey")
    if ask.primary_version:
        raise ValueError("--primary-version: on Flagger the primary is what the cluster runs")


class FlaggerEngine:
    """`--engine flagger`: the reference. On Ctrl-C the rehearsal stops watching;
    the cluster keeps the release and Flagger finishes its analysis."""

    name = "flagger"
    clock_word = "prod"
    left_behind = "the release stays applied and Flagger finishes its analysis in the cluster"

    def rehearse(self, ask: Ask, listener: Listener) -> Outcome:
        try:
            _refuse_model_flags(ask)
            listener.check_outputs()
            # The scenario's faults follow the gates of the Canary in --dist (dist/).
            canary = load_canary(ask.dist, name=ask.canary_name)
            scenario_env = SCENARIOS[ask.scenario].canary_env(canary)
            run = FlaggerRun(
                scenario=ask.scenario,
                canary_env=dict(ask.canary_env),
                canary_version=ask.canary_version,
                extra_values=_extra_values(ask.values),
            )
        except (SpecError, ConfigError, ValueError) as exc:
            raise CannotRun(str(exc)) from None
        try:
            return rehearse_on_flagger(
                run,
                scenario_env=scenario_env,
                out=listener.out,
                announce=listener.announce,
                before_teardown=listener.report,
                describe=listener.describe,
            )
        except (EngineError, ComponentError, SpecError, ConfigError, NetnsError, OSError) as exc:
            raise CannotRun(f"could not run on Flagger: {exc}") from None
