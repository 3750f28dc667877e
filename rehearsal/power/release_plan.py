"""The parts of a Canary the Monte Carlo needs, read once and checked.

A gate is one analysis metric reduced to what decides it: the share of
failed requests (a success rate or an error rate, in %) or a latency
quantile over a histogram's buckets (in ms), with its window and bounds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from order_api.telemetry import LATENCY_BUCKETS
from rehearsal.power.rehearsal_links import (
    PRE_ROLLOUT,
    Analysis,
    Canary,
    Metric,
    SpecError,
    max_weight,
    next_step_weight,
)
from stack.config import TRAEFIK_LATENCY_BUCKETS
from stack.names import REQUEST_DURATION, REQUEST_SUCCESS_RATE

# Flagger's built-in request-duration is Traefik's p99.
BUILTIN_QUANTILE = 0.99
_QUANTILE = re.compile(r"histogram_quantile\(\s*([0-9.]+)")
_MILLIS = re.compile(r"1000\s*\*|\*\s*1000")


class GateKind(StrEnum):
    SUCCESS = "success"  # 100 * ok / all, a minimum
    ERRORS = "errors"  # 100 * failed / all, a maximum
    LATENCY = "latency"  # a histogram quantile, in ms


@dataclass(frozen=True, kw_only=True)
class Gate:
    name: str
    kind: GateKind
    window_s: int
    min: float | None
    max: float | None
    buckets: tuple[float, ...] = ()  # finite upper bounds, seconds (latency only)
    quantile: float = BUILTIN_QUANTILE
    scale: float = 1000.0  # seconds -> the unit the bound is in
    truncate: bool = False  # Flagger truncates request-duration to whole ms

    def passes(self, value: float) -> bool:
        """Flagger's rule: NaN (no values found) fails, as does a value out of range."""
        if math.isnan(value):
            return False
        return not (
            (self.min is not None and value < self.min)
            or (self.max is not None and value > self.max)
        )


@dataclass(frozen=True, kw_only=True)
class Plan:
    """One Canary's analysis, as the simulator plays it."""

    name: str
    interval_s: int
    threshold: int
    weights: tuple[int, ...]  # the canary weight after each successful step
    gates: tuple[Gate, ...]
    load_rps: float  # the load test's requests/s through Traefik
    acceptance_checks: int  # pre-rollout requests sent to the canary itself

    @property
    def error_budget(self) -> float:
        """The tightest error share (fraction) the error gates allow."""
        budgets = []
        for g in self.gates:
            if g.kind == GateKind.SUCCESS and g.min is not None:
                budgets.append((100 - g.min) / 100)
            elif g.kind == GateKind.ERRORS and g.max is not None:
                budgets.append(g.max / 100)
        found = [b for b in budgets if b is not None and b > 0]
        return min(found, default=0.01)

    @property
    def latency_bound_ms(self) -> float | None:
        bounds = [g.max for g in self.gates if g.kind == GateKind.LATENCY and g.max is not None]
        return min(bounds, default=None)


def weight_steps(canary: Canary) -> tuple[int, ...]:
    """The weights Flagger walks through, by its own nextStepWeight/maxWeight rules."""
    analysis = Analysis(
        threshold=canary.threshold,
        max_weight=canary.max_weight,
        step_weight=canary.step_weight,
        step_weights=canary.step_weights,
    )
    limit, weight, steps = max_weight(analysis), 0, []
    while weight < limit:
        step = next_step_weight(analysis, weight)
        if step <= 0:
            raise SpecError(f"Canary {canary.name}: a weight step of {step} never reaches {limit}")
        weight = min(100, weight + step)
        steps.append(weight)
    return tuple(steps)


def _whole_seconds(seconds: float, what: str) -> int:
    if seconds < 1 or seconds != int(seconds):
        raise SpecError(f"{what}: {seconds:g} s; the simulator needs whole seconds")
    return int(seconds)


def _gate(canary: Canary, metric: Metric) -> Gate:
    where = f"Canary {canary.name} metric {metric.name}"
    window = _whole_seconds(metric.interval_s, f"{where} interval")
    common = {"name": metric.name, "window_s": window, "min": metric.min, "max": metric.max}
    if metric.name == REQUEST_SUCCESS_RATE and metric.builtin:
        return Gate(kind=GateKind.SUCCESS, **common)  # type: ignore[arg-type]
    if metric.name == REQUEST_DURATION and metric.builtin:
        return Gate(kind=GateKind.LATENCY, buckets=TRAEFIK_LATENCY_BUCKETS, truncate=True, **common)  # type: ignore[arg-type]
    query = metric.query or (metric.template.query if metric.template else "")
    if metric.unit == "%":
        kind = GateKind.SUCCESS if metric.min is not None else GateKind.ERRORS
        return Gate(kind=kind, **common)  # type: ignore[arg-type]
    found = _QUANTILE.search(query)
    if metric.unit == "ms" and found:
        # A template over Traefik's histogram uses its buckets, else the app's own.
        buckets = TRAEFIK_LATENCY_BUCKETS if "traefik" in query else LATENCY_BUCKETS
        return Gate(
            kind=GateKind.LATENCY,
            buckets=buckets,
            quantile=float(found.group(1)),
            scale=1000.0 if _MILLIS.search(query) else 1.0,
            **common,  # type: ignore[arg-type]
        )
    raise SpecError(
        f"{where}: the simulator models success/error rates (%) and histogram_quantile "
        "latencies (ms) only"
    )


def load_rate(canary: Canary) -> float:
    """Requests/s of the load test: each distinct hey command runs once at a time."""
    commands = {hook.cmd: hook.hey() for hook in canary.load_hooks()}
    rates = [hey.rate for hey in commands.values() if hey is not None]
    if any(rate is None for rate in rates):
        raise SpecError(
            f"Canary {canary.name}: a hey command without -q has no fixed rate; pass --load-rps"
        )
    return float(sum(r for r in rates if r is not None))


def plan_from_canary(canary: Canary, *, load_rps: float | None = None) -> Plan:
    acceptance = [h for h in canary.webhooks_of(PRE_ROLLOUT) if h.http_check() is not None]
    return Plan(
        name=canary.name,
        interval_s=_whole_seconds(canary.interval_s, f"Canary {canary.name} interval"),
        threshold=canary.threshold,
        weights=weight_steps(canary),
        gates=tuple(_gate(canary, m) for m in canary.metrics_in_flagger_order()),
        load_rps=load_rate(canary) if load_rps is None else load_rps,
        acceptance_checks=len(acceptance),
    )
