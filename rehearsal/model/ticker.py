"""Flagger's analysis clock: a Go `time.Ticker` (`scheduler.go` NewTicker).

Ticks fall at start + k x period. Go's ticker channel holds one tick: while a
tick waits unreceived (the receiver is stalled, by a slow Prometheus or a
suspended laptop), every later tick is dropped. So after a stall the receiver
gets the one pending tick at once, then the ticker's own phase again, never a
burst of ticks that would all judge the same data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Tick:
    slot: int  # k: the tick falls at start + k x period
    due: float  # when it is due (clock time)
    dropped: int  # missed ticks dropped just before this one


class Ticker:
    """Call `next()`, wait until its `due`, then `received()`; repeat."""

    def __init__(
        self, period: float, *, start: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if period <= 0:
            raise ValueError(f"ticker period must be > 0, got {period}")
        self.period, self.start, self._clock = period, start, clock
        self._slot = 0  # the last slot received
        self._received_at = start

    def next(self) -> Tick:
        """The next tick: the first slot that fell after the last one was received
        (slots that fell while it was still pending were dropped)."""
        buffered_from = math.floor((self._received_at - self.start) / self.period) + 1
        slot = max(self._slot + 1, buffered_from)
        return Tick(slot=slot, due=self.start + slot * self.period, dropped=slot - self._slot - 1)

    def received(self, tick: Tick) -> None:
        """The receiver took `tick` now (at its due time, or later after a stall)."""
        self._slot = tick.slot
        self._received_at = max(self._clock(), tick.due)
