"""The answers: P(promote) curves, false rollbacks, times to a verdict, detection limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rehearsal.power.monte_carlo import Outcomes, Simulator, Traffic, Truth
from rehearsal.power.release_plan import Plan

# A release is "detected" when it is promoted with at most this probability.
DETECTION_PROMOTE = 0.10
# A healthy canary fails a tenth of what the tightest error gate allows.
HEALTHY_BUDGET_SHARE = 0.1


@dataclass(frozen=True, kw_only=True)
class Point:
    x: float  # the error rate (fraction) or the shift (ms)
    p_promote: float
    releases: int
    median_verdict_s: float


@dataclass(frozen=True, kw_only=True)
class Summary:
    healthy_error_rate: float
    p_false_rollback: float
    healthy_release_s: float  # median time to a promotion of a healthy release
    bad_error_rate: float
    p_promote_bad: float
    rollback_s: dict[str, float]  # quantiles of the time to a rollback of the bad release
    rollback_share: dict[str, float]  # seconds to a rollback of the bad release -> share
    detected_error_rate: float | None  # smallest error rate promoted <= 10 % of the time
    detected_shift_ms: float | None
    releases: int
    error_curve: list[Point] = field(default_factory=list)
    latency_curve: list[Point] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class Study:
    plan: Plan
    traffic: Traffic
    releases: int
    seed: int

    def outcomes(self, truth: Truth) -> Outcomes:
        # One seed per truth: each point is reproducible on its own.
        key = [self.seed, round(truth.error_rate * 1e6), round(truth.shift_ms * 1e3)]
        rng = np.random.default_rng(key)
        return Simulator(self.plan, self.traffic).run(truth, self.releases, rng)

    def point(self, x: float, truth: Truth) -> Point:
        out = self.outcomes(truth)
        verdicts = verdict_seconds(out)
        return Point(
            x=x,
            p_promote=out.p_promote,
            releases=self.releases,
            median_verdict_s=float(np.median(verdicts)),
        )


def verdict_seconds(out: Outcomes, promoted: bool | None = None) -> np.ndarray:
    """Seconds from the new revision to the verdict, counted as the model engine
    counts them: tick k falls k intervals after the release is applied."""
    ticks = out.decided_tick if promoted is None else out.decided_tick[out.promoted == promoted]
    return ticks.astype(np.float64) * out.interval_s


def detection_limit(
    study: Study, truth_at: Callable[[float], Truth], top: float, *, steps: int = 10
) -> float | None:
    """The smallest x in [0, top] promoted at most 10 % of the time, by bisection
    (P(promote) falls with x); None when even `top` is promoted more often."""
    if study.outcomes(truth_at(top)).p_promote > DETECTION_PROMOTE:
        return None
    low, high = 0.0, top
    for _ in range(steps):
        middle = (low + high) / 2
        if study.outcomes(truth_at(middle)).p_promote > DETECTION_PROMOTE:
            low = middle
        else:
            high = middle
    return high


def _grid(top: float, points: int, *, power: float = 1.0) -> list[float]:
    """`points` values from 0 to `top`; power 2 packs them near 0, where small error
    rates decide, and still reaches the issue's 20 %."""
    return [float(top * x**power) for x in np.linspace(0.0, 1.0, points)] if points else []


def summarize(
    study: Study,
    *,
    healthy_error_rate: float,
    bad_factor: float,
    max_error_rate: float,
    max_shift_ms: float,
    points: int,
) -> Summary:
    """Every figure; `points` 0 leaves the curves out (the headline needs none)."""
    healthy = study.outcomes(Truth(error_rate=healthy_error_rate))
    bad_rate = min(1.0, bad_factor * study.plan.error_budget)
    bad = study.outcomes(Truth(error_rate=bad_rate))
    rollbacks = verdict_seconds(bad, promoted=False)
    quantiles = {
        f"p{q}": float(np.percentile(rollbacks, q)) if len(rollbacks) else float("nan")
        for q in (10, 50, 90)
    }
    seconds, counts = np.unique(rollbacks, return_counts=True)
    shares = {f"{t:g}": float(c) / study.releases for t, c in zip(seconds, counts, strict=True)}
    promoted_s = verdict_seconds(healthy, promoted=True)

    def shifted(ms: float) -> Truth:
        return Truth(error_rate=healthy_error_rate, shift_ms=ms)

    return Summary(
        healthy_error_rate=healthy_error_rate,
        p_false_rollback=1 - healthy.p_promote,
        healthy_release_s=float(np.median(promoted_s)) if len(promoted_s) else float("nan"),
        bad_error_rate=bad_rate,
        p_promote_bad=bad.p_promote,
        rollback_s=quantiles,
        rollback_share=shares,
        detected_error_rate=detection_limit(study, lambda r: Truth(error_rate=r), max_error_rate),
        detected_shift_ms=detection_limit(study, shifted, max_shift_ms),
        error_curve=[
            study.point(r, Truth(error_rate=r)) for r in _grid(max_error_rate, points, power=2)
        ],
        latency_curve=[study.point(ms, shifted(ms)) for ms in _grid(max_shift_ms, points)],
        releases=study.releases,
    )


def benchmark(study: Study, truth: Truth, *, rounds: int = 3) -> tuple[float, float]:
    """Simulated releases per wall second and per CPU second (the best of `rounds`);
    on a shared machine the CPU figure is the one that repeats."""
    wall = cpu = float("inf")
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        study.outcomes(truth)
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return study.releases / wall, study.releases / cpu
