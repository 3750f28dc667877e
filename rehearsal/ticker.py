"""Flagger's analysis clock: a Go `time.Ticker` (`scheduler.go` NewTicker).

Ticks fall at start + k x period. Go's ticker channel holds one tick: a
receiver that was busy (a stall, a slow Prometheus, a suspended laptop) gets
one pending tick at once and every other missed tick is dropped, so a stall
never fires a burst of ticks that would all judge the same data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Tick:
    slot: int  # k: the tick falls at start + k x period
    due: float  # when it fires (clock time)
    dropped: int  # missed ticks dropped just before this one


class Ticker:
    def __init__(
        self, period: float, *, start: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if period <= 0:
            raise ValueError(f"ticker period must be > 0, got {period}")
        self.period, self.start, self._clock = period, start, clock
        self._consumed = 0  # the last slot received

    def next(self) -> Tick:
        """The next tick to wait for, given how late the receiver is now."""
        due_slot = self._consumed + 1
        passed = int((self._clock() - self.start) / self.period)  # last slot already due
        if passed <= due_slot:
            self._consumed = due_slot
            return Tick(slot=due_slot, due=self.start + due_slot * self.period, dropped=0)
        # Slots due_slot..passed all passed: one was buffered, the rest dropped.
        self._consumed = passed
        return Tick(slot=passed, due=self._clock(), dropped=passed - due_slot)
