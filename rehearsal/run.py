"""One rehearsal: start the stack, run Flagger's loop tick by tick, collect a timeline."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from rehearsal.canary_spec import PRE_ROLLOUT, Canary
from rehearsal.checks import HookResult, MetricResult, evaluate_metric, run_pre_rollout
from rehearsal.components import ProcessGroup
from rehearsal.durations import human
from rehearsal.flagger import Action, Analysis, Phase, Stage, Status, Transition, tick
from rehearsal.load import LoadCounts, LoadGenerator
from rehearsal.local_stack import Stack, Track, start_stack
from stack.config import StackConfig

# Liveness of every component is checked this often while waiting for a tick.
POLL_S = 0.1


@dataclass(frozen=True, kw_only=True)
class Options:
    dist: Path
    speed: float
    rate: float
    scrape_interval_s: float
    primary: Track
    canary: Track
    host: str
    load_body: str
    load_path: str


@dataclass(frozen=True, kw_only=True)
class TickRecord:
    tick: int
    real_s: float  # since the analysis started
    simulated_s: float
    transition: Transition
    metrics: list[MetricResult]
    hooks: list[HookResult]
    load: LoadCounts  # responses since the previous tick
    routes: dict[str, int]  # the weights Traefik served after the tick


@dataclass(kw_only=True)
class Outcome:
    canary: Canary
    options: Options
    ticks: list[TickRecord] = field(default_factory=list)
    startup_s: float = 0.0
    analysis_started_at: float = 0.0  # unix time
    verdict_at: float = 0.0
    load_total: LoadCounts = field(default_factory=LoadCounts)
    after_verdict: LoadCounts = field(default_factory=LoadCounts)
    final_routes: dict[str, int] = field(default_factory=dict)

    @property
    def phase(self) -> Phase:
        return self.ticks[-1].transition.after.phase if self.ticks else Phase.INITIALIZED

    @property
    def promoted(self) -> bool:
        return self.phase == Phase.SUCCEEDED

    @property
    def real_s(self) -> float:
        return self.verdict_at - self.analysis_started_at

    @property
    def simulated_s(self) -> float:
        return len(self.ticks) * self.canary.interval_s

    @property
    def max_canary_weight(self) -> int:
        return max((t.transition.after.canary_weight for t in self.ticks), default=0)


def analysis_of(canary: Canary) -> Analysis:
    return Analysis(
        threshold=canary.threshold,
        max_weight=canary.max_weight,
        step_weight=canary.step_weight,
        step_weights=canary.step_weights,
    )


def progress_line(record: TickRecord, canary: Canary) -> str:
    after = record.transition.after
    parts = [
        f"tick {record.tick:2d}",
        f"{human(record.real_s):>6} real / {human(record.simulated_s):>6} sim",
        f"{after.phase:<11}",
        f"weight {after.canary_weight:3d}%",
    ]
    parts += [f"{h.name}: {'ok' if h.passed else 'FAILED'} ({h.detail})" for h in record.hooks]
    parts += [f"{m.name} {m.verdict}{'' if m.passed else ' FAILED'}" for m in record.metrics]
    parts.append(f"failed checks {after.failed_checks}/{canary.threshold}")
    if record.transition.event:
        parts.append(record.transition.event)
    return " | ".join(parts)


class Rehearsal:
    """Drives one canary analysis against a started stack."""

    def __init__(
        self, stack: Stack, options: Options, outcome: Outcome, out: Callable[[str], None]
    ) -> None:
        self.stack, self.options, self.outcome, self.out = stack, options, outcome, out
        self.canary = stack.canary_spec
        self.interval_real = self.canary.interval_s / options.speed

    def wait_until(self, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0:
            self.stack.check_alive()
            time.sleep(min(POLL_S, left))
        self.stack.check_alive()

    def run_checks(
        self, stage: Stage, metrics: list[MetricResult], hooks: list[HookResult]
    ) -> bool:
        """Run one stage's checks; True when all pass.

        Pre-rollout hooks stop at the first failure, as Flagger's do. Metrics are
        ALL evaluated so the progress line shows every value, though Flagger stops
        at the first failure: either way the tick adds exactly one failed check.
        The rollout (load-test) webhook that Flagger calls before the metrics is
        played by the load generator, which runs for the whole rehearsal.
        """
        if stage == Stage.PRE_ROLLOUT:
            for hook in self.canary.webhooks_of(PRE_ROLLOUT):
                hooks.append(run_pre_rollout(hook, self.stack.services()))
                if not hooks[-1].passed:
                    return False
            return True
        for metric in self.canary.metrics_in_flagger_order():
            result = evaluate_metric(
                self.stack.prometheus, self.canary, metric, speed=self.options.speed
            )
            metrics.append(result)
            if result.value is not None:
                self.stack.exporter.record_metric(metric.name, result.value)
        return all(m.passed for m in metrics)

    def apply(self, transition: Transition) -> None:
        """Do what Flagger does to the cluster after the decision."""
        if transition.action == Action.PROMOTE_PRIMARY:
            self.stack.promote_primary(self.options.canary)
        if transition.weights_changed:
            self.stack.set_canary_weight(transition.after.canary_weight)
        if transition.action == Action.SCALE_CANARY_TO_ZERO:
            self.stack.scale_canary_to_zero()
        self.stack.exporter.record(transition.after)
        if transition.after.phase.terminal:
            self.stack.exporter.record_outcome(transition.after.phase)

    def analyse(self, load: LoadGenerator) -> None:
        analysis = analysis_of(self.canary)
        status = Status()
        start = time.monotonic()
        self.outcome.analysis_started_at = time.time()
        previous = load.snapshot()
        number = 0
        while not status.phase.terminal:
            number += 1
            self.wait_until(start + number * self.interval_real)
            metrics: list[MetricResult] = []
            hooks: list[HookResult] = []
            transition = tick(
                analysis, status, partial(self.run_checks, metrics=metrics, hooks=hooks)
            )
            self.apply(transition)
            status = transition.after
            counts = load.snapshot()
            record = TickRecord(
                tick=number,
                real_s=time.monotonic() - start,
                simulated_s=number * self.canary.interval_s,
                transition=transition,
                metrics=metrics,
                hooks=hooks,
                load=counts.minus(previous),
                routes=self.stack.served_routes(),
            )
            previous = counts
            self.outcome.ticks.append(record)
            self.out(progress_line(record, self.canary))
        self.outcome.verdict_at = time.time()

    def settle(self, load: LoadGenerator) -> None:
        """Keep the load on briefly: where do requests sent after the verdict go?"""
        load.watch()
        self.wait_until(time.monotonic() + max(1.0, 4 * self.options.scrape_interval_s))
        self.outcome.final_routes = self.stack.served_routes()
        # Let the slowest of those requests come back before counting.
        self.wait_until(time.monotonic() + 1.0)
        self.outcome.after_verdict = load.watched()


def rehearse(
    *,
    canary: Canary,
    config: StackConfig,
    options: Options,
    group: ProcessGroup,
    workdir: Path,
    out: Callable[[str], None],
    before_teardown: Callable[[Outcome, Stack], None] | None = None,
) -> Outcome:
    """Start the stack in `group`, run the analysis to a verdict, return the timeline."""
    outcome = Outcome(canary=canary, options=options)
    started = time.monotonic()
    stack = start_stack(
        group=group,
        workdir=workdir,
        canary_spec=canary,
        config=config,
        host=options.host,
        primary=options.primary,
        canary=options.canary,
        scrape_interval_s=options.scrape_interval_s,
    )
    try:
        outcome.startup_s = time.monotonic() - started
        out(
            f"stack up in {human(outcome.startup_s)}: Traefik {stack.traefik.url} "
            f"(Host: {options.host}), Prometheus {stack.prometheus.url}"
        )
        load = LoadGenerator(
            url=stack.traefik.url,
            host=options.host,
            rate=options.rate,
            body=options.load_body,
            path=options.load_path,
        ).start()
        try:
            rehearsal = Rehearsal(stack, options, outcome, out)
            rehearsal.analyse(load)
            rehearsal.settle(load)
        finally:
            outcome.load_total = load.stop()
        if before_teardown is not None:
            before_teardown(outcome, stack)
    finally:
        stack.close()
    return outcome


def check_speed(canary: Canary, speed: float, scrape_interval_s: float) -> None:
    """Every window must span at least two scrapes at this speed, or Flagger's
    queries would see a single sample (rate() needs two) and fail for nothing."""
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"--speed must be a positive number, got {speed}")
    floor = 2 * scrape_interval_s
    windows: Mapping[str, float] = {
        "analysis interval": canary.interval_s,
        **{f"metric {m.name} interval": m.interval_s for m in canary.metrics},
    }
    for what, seconds in windows.items():
        if seconds / speed < floor:
            fastest = min(windows.values()) / floor
            raise ValueError(
                f"--speed {speed:g} is too fast: the {what} {human(seconds)} becomes "
                f"{seconds / speed:.2f}s, under 2 x the local scrape interval "
                f"({scrape_interval_s:g}s); use --speed {math.floor(fastest * 100) / 100:g} or less"
            )
