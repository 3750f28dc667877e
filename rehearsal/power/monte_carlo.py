"""Flagger's decision over whole releases, simulated for many releases at once.

Each release follows the model engine's reading of Flagger's scheduler
(rehearsal/flagger.py): tick 1 turns Initialized into Progressing; then, once
per interval, a rollback if the failed checks reached the threshold (tested
before any check), else the pre-rollout webhooks at weight 0 or the metrics
otherwise; a failed check adds one and holds the weight, and failed checks
never reset (fluxcd/flagger v1.44.0 scheduler.go only ever sets them +1); a
passed check advances to the next weight, or at the max weight promotes,
which takes two more ticks (Promoting, Finalising) to Succeeded.

Traffic: the load test's rate plus the real users' rate reach the canary in
proportion to its weight; each gate judges the requests of its own window
(a window with no request fails, as Flagger's "no values found" does). The
canary fails each request with the true error rate and answers after a
latency drawn from a lognormal shifted by the true regression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from rehearsal.power.measured_latency import histogram_cdf
from rehearsal.power.quantile import histogram_quantile
from rehearsal.power.release_plan import Gate, GateKind, Plan

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

# Flagger's phases as small integers, for arrays.
INIT, PROGRESSING, PROMOTING, FINALISING, SUCCEEDED, FAILED = range(6)
# Ticks after the weight walk that are spent on promotion (Promoting, Finalising).
PROMOTION_TICKS = 2
# A z-score for the lognormal's 99th percentile.
Z99 = 2.3263478740408408


class Arrivals(StrEnum):
    CONSTANT = "constant"  # a rate-limited load test (hey -q): the window's share, rounded
    POISSON = "poisson"


class ErrorProcess(StrEnum):
    BINOMIAL = "binomial"  # each request fails independently
    EVEN = "even"  # failures spread evenly, as the rehearsal's fault injector does


@dataclass(frozen=True, kw_only=True)
class Latency:
    """The canary's healthy latency: a lognormal given by its median and p99 (ms), or
    a measured histogram (finite bounds in seconds, cumulative share at each)."""

    median_ms: float = 5.0
    p99_ms: float = 40.0
    measured: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def cdf(self, seconds: Floats, shift_ms: float) -> Floats:
        """P(latency <= seconds) for a latency shifted by `shift_ms`."""
        if self.measured is not None:
            return histogram_cdf(*self.measured, seconds, shift_ms)
        mu = math.log(self.median_ms / 1000)
        sigma = math.log(self.p99_ms / self.median_ms) / Z99
        base = seconds - shift_ms / 1000
        out = np.zeros_like(seconds)
        positive = base > 0
        z = (np.log(base[positive]) - mu) / (sigma * math.sqrt(2))
        out[positive] = [0.5 * (1 + math.erf(v)) for v in z]
        return out


@dataclass(frozen=True, kw_only=True)
class Traffic:
    users_rps: float = 0.0
    load_arrivals: Arrivals = Arrivals.CONSTANT
    errors: ErrorProcess = ErrorProcess.BINOMIAL
    latency: Latency = Latency()


@dataclass(frozen=True, kw_only=True)
class Truth:
    """What the canary really does."""

    error_rate: float = 0.0
    shift_ms: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Outcomes:
    """The verdict of each simulated release and the tick that gave it."""

    promoted: Bools
    decided_tick: Ints  # the tick of Succeeded or of the rollback
    interval_s: int

    @property
    def p_promote(self) -> float:
        return float(self.promoted.mean())


def _multinomial(rng: np.random.Generator, n: Ints, probs: Floats) -> Ints:
    """Multinomial counts per row as a chain of vectorized binomials (numpy's
    multinomial loops over rows: ten times slower here)."""
    hist = np.zeros((len(n), len(probs)), dtype=np.int64)
    left, mass = n.copy(), 1.0
    for k, p in enumerate(probs):
        if p <= 0:
            continue
        if p >= mass * (1 - 1e-12) or k == len(probs) - 1:
            hist[:, k] = left
            break
        hist[:, k] = rng.binomial(left, p / mass)
        left -= hist[:, k]
        mass -= p
    return hist


class _Windows:
    """The canary's last requests, slice by slice, for every release."""

    def __init__(self, releases: int, slices: int, buckets: int) -> None:
        self.n = np.zeros((releases, slices), dtype=np.int64)
        self.e = np.zeros((releases, slices), dtype=np.int64)
        self.hist = np.zeros((releases, slices, buckets), dtype=np.int64)

    def push(self, n: Ints, e: Ints, hist: Ints) -> None:
        self.n = np.roll(self.n, -1, axis=1)
        self.e = np.roll(self.e, -1, axis=1)
        self.hist = np.roll(self.hist, -1, axis=1)
        self.n[:, -1], self.e[:, -1], self.hist[:, -1] = n, e, hist

    def last(self, slices: int) -> tuple[Ints, ...]:
        return (
            self.n[:, -slices:].sum(axis=1),
            self.e[:, -slices:].sum(axis=1),
            self.hist[:, -slices:].sum(axis=1),
        )


class Simulator:
    """One Plan and traffic, simulated for any truth."""

    def __init__(self, plan: Plan, traffic: Traffic) -> None:
        self.plan, self.traffic = plan, traffic
        self.slice_s = math.gcd(plan.interval_s, *(g.window_s for g in plan.gates))
        self.slices_per_tick = plan.interval_s // self.slice_s
        self.window_slices = [g.window_s // self.slice_s for g in plan.gates]
        self.history = max([*self.window_slices, 1])
        # Every bound of every latency gate: one histogram serves them all.
        self.edges = np.array(
            sorted({b for g in plan.gates if g.kind == GateKind.LATENCY for b in g.buckets}),
            dtype=np.float64,
        )
        self.positions = {
            g.name: np.searchsorted(self.edges, np.array(g.buckets, dtype=np.float64))
            for g in plan.gates
            if g.kind == GateKind.LATENCY
        }
        self.max_ticks = 2 + len(plan.weights) + plan.threshold + PROMOTION_TICKS

    def _bucket_probabilities(self, shift_ms: float) -> Floats:
        cdf = self.traffic.latency.cdf(self.edges, shift_ms)
        return np.diff(np.concatenate(([0.0], cdf, [1.0])))

    def _arrivals(self, rng: np.random.Generator, weight: Floats) -> Ints:
        share = weight / 100 * self.slice_s
        load_mean = self.plan.load_rps * share
        if self.traffic.load_arrivals == Arrivals.POISSON:
            load = rng.poisson(load_mean)
        else:
            whole = np.floor(load_mean)
            load = (whole + (rng.random(len(weight)) < load_mean - whole)).astype(np.int64)
        users = rng.poisson(self.traffic.users_rps * share) if self.traffic.users_rps else 0
        return np.asarray(load + users, dtype=np.int64)

    def _errors(self, rng: np.random.Generator, n: Ints, p: float) -> Ints:
        if self.traffic.errors == ErrorProcess.EVEN:
            expected = n * p
            whole = np.floor(expected)
            return (whole + (rng.random(len(n)) < expected - whole)).astype(np.int64)
        return rng.binomial(n, p)

    def _slice(
        self,
        rng: np.random.Generator,
        weight: Floats,
        truth: Truth,
        probs: Floats,
    ) -> tuple[Ints, Ints, Ints]:
        n = self._arrivals(rng, weight)
        e = self._errors(rng, n, truth.error_rate)
        return n, e, _multinomial(rng, n, probs)

    def gate_passes(
        self,
        gate: Gate,
        n: Ints,
        e: Ints,
        hist: Ints,
    ) -> Bools:
        """Flagger's verdict on one gate for each release's window."""
        with np.errstate(invalid="ignore", divide="ignore"):
            if gate.kind == GateKind.SUCCESS:
                value = (n - e) / n * 100
            elif gate.kind == GateKind.ERRORS:
                value = 100 * e / n
            else:
                cum = np.cumsum(hist, axis=1)
                at_bounds = cum[:, self.positions[gate.name]]
                seconds = histogram_quantile(
                    gate.quantile, gate.buckets, np.column_stack([at_bounds, n])
                )
                value = gate.scale * seconds
                if gate.truncate:
                    value = np.trunc(value)
        value = np.where(n > 0, value, np.nan)
        ok = ~np.isnan(value)
        if gate.min is not None:
            ok &= ~(value < gate.min)
        if gate.max is not None:
            ok &= ~(value > gate.max)
        return ok

    def run(self, truth: Truth, releases: int, rng: np.random.Generator) -> Outcomes:
        plan = self.plan
        weights = np.array([0, *plan.weights], dtype=np.float64)
        step = np.zeros(releases, dtype=np.int64)  # index into weights
        failed = np.zeros(releases, dtype=np.int64)
        phase = np.full(releases, INIT, dtype=np.int64)
        decided = np.zeros(releases, dtype=np.int64)
        probs = self._bucket_probabilities(truth.shift_ms) if len(self.edges) else np.ones(1)
        windows = _Windows(releases, self.history, max(len(self.edges) + 1, 1))
        accept_pass = (1 - truth.error_rate) ** plan.acceptance_checks
        if self.traffic.errors == ErrorProcess.EVEN:
            # The injector fails the first order only at rate 1.
            accept_pass = 0.0 if truth.error_rate >= 1 else 1.0
        for tick in range(1, self.max_ticks + 1):
            for _ in range(self.slices_per_tick if tick > 1 else 0):
                windows.push(*self._slice(rng, weights[step], truth, probs))
            decided[(phase == FINALISING) & (decided == 0)] = tick
            phase = np.where(phase == FINALISING, SUCCEEDED, phase)
            phase = np.where(phase == PROMOTING, FINALISING, phase)
            rollback = (phase == PROGRESSING) & (failed >= plan.threshold)
            decided[rollback] = tick
            phase = np.where(rollback, FAILED, phase)
            checking = phase == PROGRESSING
            passed = self._checks(rng, step, accept_pass, windows)
            failed += checking & ~passed
            advance = checking & passed
            promote = advance & (step == len(plan.weights))
            step = np.where(advance & ~promote, step + 1, step)
            phase = np.where(promote, PROMOTING, phase)
            phase = np.where(phase == INIT, PROGRESSING, phase)
        return Outcomes(
            promoted=phase == SUCCEEDED, decided_tick=decided, interval_s=plan.interval_s
        )

    def _checks(
        self,
        rng: np.random.Generator,
        step: Ints,
        accept_pass: float,
        windows: _Windows,
    ) -> Bools:
        """Pre-rollout at weight 0, every gate otherwise (Flagger's runAnalysis)."""
        passed = np.ones(len(step), dtype=np.bool_)
        for gate, slices in zip(self.plan.gates, self.window_slices, strict=True):
            passed &= self.gate_passes(gate, *windows.last(slices))
        pre = rng.random(len(step)) < accept_pass
        return np.where(step == 0, pre, passed)


def simulate(plan: Plan, truth: Truth, *, traffic: Traffic, releases: int, seed: int) -> Outcomes:
    """`releases` releases of `plan` with the canary's `truth`, reproducible by `seed`."""
    return Simulator(plan, traffic).run(truth, releases, np.random.default_rng(seed))
