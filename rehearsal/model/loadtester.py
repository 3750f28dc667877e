"""flagger-loadtester's task runner, for the `hey` commands of a Canary's webhooks.

What the real loadtester does with a `type: cmd` webhook (fluxcd/flagger
`pkg/loadtester/server.go`, `runner.go`): it answers 202 at once and runs the
command in the background; a call for the same canary and the same command
while that command still runs is dropped ("command skipped ... is already
running"). So load flows only after a webhook carrying it was called, for the
command's own duration, and a later call does not extend it.

Here the command runs as a `HeyRun` against the rehearsal's Traefik, with its
duration divided by --speed like every other duration. Its rate is `-q` x `-c`
per SIMULATED second, so a window holds as many requests as in the cluster:
`-c` x speed workers at hey's own `-q` each (a worker waiting for a slow answer
drops slots exactly as hey's would), up to `max_rate` real requests/s for the
laptop's sake, or `rate` (--rate) when given.

Timing, in simulated time like everything else: the loadtester picks a task up
on its next 100 ms runner tick and hey then runs for `-z`, so a `hey -z 60s`
called at a tick of a 60 s analysis is still running at the next tick (in the
cluster it usually is: hey also takes a moment to exit). The rehearsal decides
this from the calls' scheduled tick times, never from a race between threads.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rehearsal.measure.load import HeyRun, LoadCounter, LoadCounts, Request
from rehearsal.outcome import LoadWindow
from rehearsal.spec.webhook_commands import HeyCommand, parse_hey

# flagger-loadtester's task runner period (cmd/loadtester/main.go).
RUNNER_TICK_S = 0.1
# Real requests/s one load command may send here unless --rate says otherwise.
DEFAULT_MAX_RATE = 100.0


@dataclass(frozen=True)
class Plan:
    workers: int
    rate: float | None  # real requests/s over all workers; None: unthrottled (capped)


def plan(hey: HeyCommand, *, speed: float, rate: float | None, max_rate: float) -> Plan:
    """Workers and real rate for `hey` compressed `speed` times (see the module doc)."""
    if rate is not None:
        total = rate
    elif hey.rate is not None:
        total = min(hey.rate * speed, max_rate)
    else:
        return Plan(workers=hey.workers, rate=max_rate)
    per_worker = hey.qps_per_worker or total / hey.workers
    return Plan(workers=max(1, math.ceil(total / per_worker - 1e-9)), rate=total)


@dataclass(frozen=True, kw_only=True)
class Call:
    """What one webhook call did."""

    started: bool  # False: dropped, the same command was still running
    detail: str


class LoadTester:
    """Runs hey commands by (canary, command), dropping calls while one runs.

    `resolve(url)` maps the command's in-cluster URL to a loopback (host, port).
    """

    def __init__(
        self,
        *,
        resolve: Callable[[str], tuple[str, int]],
        speed: float,
        rate: float | None = None,
        max_rate: float = DEFAULT_MAX_RATE,
    ) -> None:
        self._resolve, self._speed, self._rate, self._max_rate = resolve, speed, rate, max_rate
        self.counter = LoadCounter()
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], HeyRun] = {}
        self._runs: list[tuple[str, HeyRun]] = []
        self.epoch = time.monotonic()

    def plan(self, hey: HeyCommand) -> Plan:
        return plan(hey, speed=self._speed, rate=self._rate, max_rate=self._max_rate)

    def call(self, canary: str, hook: str, cmd: str, *, at: float | None = None) -> Call:
        """The loadtester's answer to a webhook call carrying `cmd` (a hey command),
        made at `at` (time.monotonic(); the tick's scheduled time)."""
        hey = parse_hey(cmd)
        if hey is None:
            raise ValueError(f"webhook {hook}: not a hey command: {cmd!r}")
        key = (canary, cmd)
        now = time.monotonic() if at is None else at
        with self._lock:
            current = self._running.get(key)
            if current is not None and now < current.busy_until:
                age = (now - current.started_at) * self._speed
                return Call(
                    started=False,
                    detail=f"command skipped: already running for {age:.0f} s (simulated)",
                )
            run = self._start(hey, start_at=now + RUNNER_TICK_S / self._speed)
            self._running[key] = run
            self._runs.append((hook, run))
        rate = f"{run.rate:g} req/s real ({run.workers} workers)"
        duration = (
            f"for {run.duration_s:.1f} s real (-z {hey.duration_s:g} s / speed {self._speed:g})"
            if run.duration_s is not None
            else f"{hey.requests} requests"
        )
        return Call(started=True, detail=f"load started: {rate} {duration}")

    def _start(self, hey: HeyCommand, *, start_at: float) -> HeyRun:
        p = self.plan(hey)
        return HeyRun(
            address=self._resolve(hey.url),
            request=Request(
                method=hey.method,
                path=hey.path,
                host=hey.host,
                body=hey.body.encode() if hey.body is not None else None,
                content_type=hey.content_type,
            ),
            counter=self.counter,
            workers=p.workers,
            rate=p.rate,
            duration_s=hey.duration_s / self._speed if hey.duration_s is not None else None,
            requests=hey.requests,
            timeout_s=hey.timeout_s,
            start_at=start_at,
        ).start()

    def snapshot(self) -> LoadCounts:
        return self.counter.snapshot()

    @property
    def active(self) -> bool:
        with self._lock:
            return any(run.running for run in self._running.values())

    def windows(self) -> list[LoadWindow]:
        with self._lock:
            runs = list(self._runs)
        out = []
        for hook, run in runs:
            running = run.running
            end = None if running or run.ended_at is None else run.ended_at - self.epoch
            out.append(LoadWindow(hook=hook, start_s=run.started_at - self.epoch, end_s=end))
        return out

    def coverage(self, start: float, end: float) -> float:
        """The fraction of [start, end] (time.monotonic()) during which load ran."""
        if end <= start:
            return 0.0
        with self._lock:
            runs = [run for _, run in self._runs]
        spans = sorted(
            (max(start, run.started_at), min(end, run.ended_at or run.busy_until)) for run in runs
        )
        covered, reach = 0.0, start
        for a, b in spans:
            a = max(a, reach)
            if b > a:
                covered += b - a
                reach = b
        return covered / (end - start)

    def stop(self) -> LoadCounts:
        with self._lock:
            runs = [run for _, run in self._runs]
        for run in runs:
            run.stop()
        return self.snapshot()
