"""Fault injection for canary demos: slow and failing order requests.

Only the order endpoint consults this; probes and scrapes never do, so an
injected fault shows up in the canary analysis and not as a dead pod.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from order_api.settings import Settings


@dataclass(frozen=True, slots=True)
class Faults:
    """The order handler sleeps `delay_s` first, then fails if `should_fail()`."""

    error_rate: float = 0.0
    delay_s: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Faults:
        return cls(error_rate=settings.fault_error_rate, delay_s=settings.fault_delay_ms / 1000)

    def should_fail(self) -> bool:
        """Draw whether this request gets an injected 500."""
        # random() is in [0, 1): a rate of 1 fails every request, 0 none.
        return self.error_rate > 0 and random.random() < self.error_rate
