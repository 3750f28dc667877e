"""Fault injection for canary demos: slow and failing order requests.

Only the order endpoint consults this; probes and scrapes never do, so an
injected fault shows up in the canary analysis and not as a dead pod.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from order_api.settings import Settings


@dataclass(frozen=True, slots=True)
class Faults:
    """The order handler sleeps `delay_s` first, then fails if `should_fail()`.

    Failures are spread evenly, not drawn: the n-th order (from 0) fails when
    floor((n + 1) * rate) passes an integer, so any k consecutive orders hold
    floor(k * rate) or ceil(k * rate) failures. A rehearsal's verdict then
    follows from the rate and not from luck, and the two engines of the
    rehearsal see the same faults: the first order (Flagger's acceptance
    test, on a fresh pod) fails only at rate 1.
    """

    error_rate: float = 0.0
    delay_s: float = 0.0
    _orders: itertools.count[int] = field(
        default_factory=itertools.count, compare=False, repr=False
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Faults:
        return cls(error_rate=settings.fault_error_rate, delay_s=settings.fault_delay_ms / 1000)

    def should_fail(self) -> bool:
        """Whether this order gets an injected 500 (counts the order)."""
        if self.error_rate <= 0:
            return False
        n = next(self._orders)
        return math.floor((n + 1) * self.error_rate) > math.floor(n * self.error_rate)
