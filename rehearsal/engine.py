"""One interface for the two engines, and the factory that picks one by name
(the shape of Flagger's pkg/router: an interface, a factory, an implementation
per kind). Both take the same `Ask` and `Listener` and return the same `Outcome`.
"""

from __future__ import annotations

from typing import Protocol

from rehearsal.model.model_engine import ModelEngine
from rehearsal.oncluster.flagger_engine import FlaggerEngine
from rehearsal.outcome import Ask, Listener, Outcome

ENGINES = ("model", "flagger")


class Engine(Protocol):
    """Rehearses one release and returns its outcome.

    An engine raises `CannotRun` when the rehearsal cannot run, `Interrupted`
    when a signal comes before there is anything to report, and otherwise
    returns the outcome: a verdict, or a partial run marked `interrupted`.
    """

    name: str
    clock_word: str  # the tick lines' clock: simulated ("sim") or production ("prod") time
    left_behind: str  # what an interruption leaves, for the message

    def rehearse(self, ask: Ask, listener: Listener) -> Outcome: ...


def engine_for(name: str) -> Engine:
    """The engine called `name` (one of ENGINES)."""
    if name == "model":
        return ModelEngine()
    if name == "flagger":
        return FlaggerEngine()
    raise ValueError(f"no engine {name!r}: one of {', '.join(ENGINES)}")
