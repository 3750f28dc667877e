"""Built-in scenarios: what the canary is started with, and the verdict expected.

The faults are derived from the Canary's own gates, so a scenario keeps its
meaning when a threshold changes: the errors scenario fails 20 times the
error budget the gates allow (20 % of orders for a 99 % success rate), the
latency scenario adds 1.4 times the tightest latency gate (700 ms for 500 ms),
which lands above the gate in Traefik's and the app's histograms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from order_api.settings import ENV_FAULT_DELAY_MS, ENV_FAULT_ERROR_RATE
from rehearsal.spec.canary_spec import Canary

PROMOTED, ROLLED_BACK = "promoted", "rolled back"
ERROR_BUDGET_FACTOR = 20
MAX_FAULT_RATE = 0.5
LATENCY_FACTOR = 1.4
# Used when the Canary has no gate of that kind.
DEFAULT_ALLOWED_ERRORS = 0.01
DEFAULT_LATENCY_GATE_MS = 500.0


def allowed_error_fraction(canary: Canary) -> float:
    """The tightest error budget the Canary's gates allow, as a fraction."""
    budgets = []
    for m in canary.metrics:
        if m.unit != "%":
            continue
        if m.min is not None:  # a success rate: 99 % min allows 1 %
            budgets.append((100 - m.min) / 100)
        elif m.max is not None:  # an error rate: 1 % max
            budgets.append(m.max / 100)
    budgets = [b for b in budgets if b > 0]
    return min(budgets, default=DEFAULT_ALLOWED_ERRORS)


def latency_gate_ms(canary: Canary) -> float:
    gates = [m.max for m in canary.metrics if m.unit == "ms" and m.max is not None]
    return min(gates, default=DEFAULT_LATENCY_GATE_MS)


def _errors(canary: Canary) -> dict[str, str]:
    rate = min(MAX_FAULT_RATE, ERROR_BUDGET_FACTOR * allowed_error_fraction(canary))
    return {ENV_FAULT_ERROR_RATE: f"{rate:g}"}


def _latency(canary: Canary) -> dict[str, str]:
    return {ENV_FAULT_DELAY_MS: f"{LATENCY_FACTOR * latency_gate_ms(canary):g}"}


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    description: str
    expect: str  # PROMOTED or ROLLED_BACK
    faults: Callable[[Canary], dict[str, str]] = lambda canary: {}

    def canary_env(self, canary: Canary) -> dict[str, str]:
        return self.faults(canary)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="healthy",
            description="the canary behaves like the primary: promoted",
            expect=PROMOTED,
        ),
        Scenario(
            name="errors",
            description="the canary answers 500 on 20x the error budget (20% for 99%): rolled back",
            expect=ROLLED_BACK,
            faults=_errors,
        ),
        Scenario(
            name="latency",
            description="the canary adds 1.4x the latency gate (700 ms for 500 ms): rolled back",
            expect=ROLLED_BACK,
            faults=_latency,
        ),
    )
}
