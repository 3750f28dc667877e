"""One rehearsal: start the stack, run Flagger's loop tick by tick, collect a timeline."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

from rehearsal.failures import ComponentError, Interrupted
from rehearsal.measure.load import HeyRun, LoadCounter, Request
from rehearsal.measure.prometheus_api import PrometheusAPI
from rehearsal.model.checks import evaluate_metric, run_webhook
from rehearsal.model.child_processes import ProcessGroup
from rehearsal.model.loadtester import LoadTester
from rehearsal.model.local_stack import CanaryDidNotBoot, Stack, start_stack
from rehearsal.model.ticker import Ticker
from rehearsal.outcome import HookResult, LoadWindow, MetricResult, Options, Outcome, TickRecord
from rehearsal.spec.canary_spec import PRE_ROLLOUT, ROLLOUT, Canary
from rehearsal.spec.duration_text import human
from rehearsal.spec.flagger_analysis import Action, Analysis, Stage, Status, Transition, tick

# Liveness of every component is checked this often while waiting for a tick.
POLL_S = 0.1


def analysis_of(canary: Canary) -> Analysis:
    return Analysis(
        threshold=canary.threshold,
        max_weight=canary.max_weight,
        step_weight=canary.step_weight,
        step_weights=canary.step_weights,
    )


class Rehearsal:
    """Drives one canary analysis against a started stack."""

    def __init__(
        self,
        stack: Stack,
        options: Options,
        outcome: Outcome,
        out: Callable[[TickRecord], None],
    ) -> None:
        self.stack, self.options, self.outcome, self.out = stack, options, outcome, out
        self.canary = stack.canary_spec
        self.interval_real = self.canary.interval_s / options.speed
        self.loadtester = LoadTester(resolve=stack.resolve, speed=options.speed, rate=options.rate)
        self.tick_due: float | None = None  # the scheduled time of the tick in progress
        # The longest metric window, as the queries see it at this speed.
        self.window_real = (
            max((m.interval_s for m in self.canary.metrics), default=self.canary.interval_s)
            / options.speed
        )

    def wait_until(self, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0:
            self.stack.check_alive()
            time.sleep(min(POLL_S, left))
        self.stack.check_alive()

    def _hooks(self, kind: str, hooks: list[HookResult]) -> bool:
        """Call the webhooks of `kind` in order; Flagger stops at the first failure."""
        for hook in self.canary.webhooks_of(kind):
            hooks.append(
                run_webhook(
                    hook,
                    services=self.stack.services(),
                    loadtester=self.loadtester,
                    canary_key=self.canary.loadtester_key,
                    at=self.tick_due,
                )
            )
            if not hooks[-1].passed:
                return False
        return True

    def run_checks(
        self, stage: Stage, metrics: list[MetricResult], hooks: list[HookResult]
    ) -> bool:
        """Run one stage's checks; True when all pass.

        Pre-rollout: only the pre-rollout webhooks. Analysis (`runAnalysis`): the
        rollout webhooks, then at once the metrics. Metrics are ALL evaluated so
        the progress line shows every value, though Flagger stops at the first
        failure: either way the tick adds exactly one failed check.
        """
        if stage == Stage.PRE_ROLLOUT:
            return self._hooks(PRE_ROLLOUT, hooks)
        if not self._hooks(ROLLOUT, hooks):
            return False
        for metric in self.canary.metrics_in_flagger_order():
            result = evaluate_metric(
                self.stack.prometheus, self.canary, metric, speed=self.options.speed
            )
            metrics.append(result)
            if result.value is not None:
                self.stack.exporter.record_metric(metric.name, result.value, builtin=metric.builtin)
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

    def analyse(self) -> None:
        analysis = analysis_of(self.canary)
        status = Status()
        start = time.monotonic()
        self.outcome.analysis_started_at = time.time()
        self.outcome.analysis_started_mono = start
        ticker = Ticker(self.interval_real, start=start)
        previous = self.loadtester.snapshot()
        number = 0
        while not status.phase.terminal:
            number += 1
            due = ticker.next()
            self.wait_until(due.due)
            ticker.received(due)
            self.tick_due = due.due
            # What load the window the metrics are about to judge held (before this call).
            coverage = self.loadtester.coverage(due.due - self.window_real, due.due)
            metrics: list[MetricResult] = []
            hooks: list[HookResult] = []
            transition = tick(
                analysis, status, partial(self.run_checks, metrics=metrics, hooks=hooks)
            )
            self.apply(transition)
            status = transition.after
            counts = self.loadtester.snapshot()
            record = TickRecord(
                tick=number,
                slot=due.slot,
                real_s=time.monotonic() - start,
                simulated_s=due.slot * self.canary.interval_s,
                transition=transition,
                metrics=metrics,
                hooks=hooks,
                load=counts.minus(previous),
                routes=self.stack.served_routes(),
                dropped_ticks=due.dropped,
                load_coverage=coverage if transition.stage == Stage.ANALYSIS else None,
            )
            previous = counts
            self.outcome.ticks.append(record)
            self.out(record)
        self.outcome.verdict_at = time.time()

    def settle(self) -> None:
        """Where do requests sent after the verdict go? The rehearsal's own probe
        orders through Traefik (not the Canary's load, which may have ended)."""
        counter = LoadCounter()
        duration = max(1.0, 4 * self.options.scrape_interval_s)
        address = self.stack.resolve(self.stack.traefik.url)
        probe = HeyRun(
            address=address,
            request=Request(
                method="POST",
                path=self.options.probe_path,
                host=self.options.host,
                body=self.options.probe_body.encode(),
                content_type="application/json",
            ),
            counter=counter,
            workers=2,
            rate=20.0,
            duration_s=duration,
            requests=0,
            timeout_s=10.0,
        ).start()
        self.wait_until(time.monotonic() + duration)
        self.outcome.final_routes = self.stack.served_routes()
        probe.join(timeout=11.0)
        self.outcome.after_verdict = counter.snapshot()

    def finish_load(self) -> None:
        self.outcome.load_total = self.loadtester.stop()
        epoch = self.outcome.analysis_started_mono - self.loadtester.epoch
        self.outcome.load_windows = [
            LoadWindow(
                hook=w.hook,
                start_s=w.start_s - epoch,
                end_s=None if w.end_s is None else w.end_s - epoch,
            )
            for w in self.loadtester.windows()
        ]


def rehearse(
    *,
    canary: Canary,
    options: Options,
    group: ProcessGroup,
    workdir: Path,
    out: Callable[[TickRecord], None],
    announce: Callable[[str], None],
    before_teardown: Callable[[Outcome, PrometheusAPI], None] | None = None,
) -> Outcome:
    """Start the stack in `group`, run the analysis to a verdict, return the timeline.

    A canary that never boots (a failed release) and a signal (`Interrupted`:
    a partial run) end it early; the outcome says which.
    """
    outcome = Outcome(canary=canary, options=options)
    try:
        _analyse_on_stack(outcome, group, workdir, out, announce, before_teardown)
    except CanaryDidNotBoot as exc:
        outcome.boot_failure = str(exc).splitlines()[0]
        announce(f"rehearsal: {exc}")
    except Interrupted as exc:
        outcome.interrupted = outcome.interrupted or f"interrupted by {exc}"
    return outcome


def _analyse_on_stack(
    outcome: Outcome,
    group: ProcessGroup,
    workdir: Path,
    out: Callable[[TickRecord], None],
    announce: Callable[[str], None],
    before_teardown: Callable[[Outcome, PrometheusAPI], None] | None,
) -> None:
    options = outcome.options
    started = time.monotonic()
    stack = start_stack(
        group=group,
        workdir=workdir,
        canary_spec=outcome.canary,
        host=options.host,
        primary=options.primary,
        canary=options.canary,
        scrape_interval_s=options.scrape_interval_s,
    )
    rehearsal = Rehearsal(stack, options, outcome, out)
    try:
        outcome.startup_s = time.monotonic() - started
        announce(
            f"stack up in {human(outcome.startup_s)}: Traefik {stack.traefik.url} "
            f"(Host: {options.host}), Prometheus {stack.prometheus.url}"
        )
        report = True
        try:
            rehearsal.analyse()
            rehearsal.settle()
        except ComponentError:
            report = False  # a broken stack: no report to draw from it
            raise
        except BaseException as exc:  # a signal: a partial report of what ran
            outcome.interrupted = f"interrupted by {exc} after {len(outcome.ticks)} ticks"
            raise
        finally:
            rehearsal.finish_load()
            if report and before_teardown is not None:
                before_teardown(outcome, stack.prometheus)
    finally:
        stack.close()


def check_speed(canary: Canary, speed: float, scrape_interval_s: float) -> None:
    """Every window must span at least MIN_SCRAPES scrapes at this speed.

    rate() needs two samples in the window; with only two, a window that
    starts just after a scrape and a sample that lands just after the query
    leave one, and Flagger's query reads "no values found" for nothing. Four
    scrapes per window leave a margin of two.
    """
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"--speed must be a positive number, got {speed}")
    floor = MIN_SCRAPES * scrape_interval_s
    windows: Mapping[str, float] = {
        "analysis interval": canary.interval_s,
        **{f"metric {m.name} interval": m.interval_s for m in canary.metrics},
    }
    for what, seconds in windows.items():
        if seconds / speed < floor:
            fastest = min(windows.values()) / floor
            raise ValueError(
                f"--speed {speed:g} is too fast: the {what} {human(seconds)} becomes "
                f"{seconds / speed:.2f} s, under {MIN_SCRAPES} x the local scrape interval "
                f"({scrape_interval_s:g} s); use --speed {math.floor(fastest * 100) / 100:g} "
                "or less, or a shorter --scrape-interval"
            )


MIN_SCRAPES = 4
