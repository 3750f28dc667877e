"""The one duration formatter of the stack (Prometheus, Flagger, hey, descriptions).

Prometheus and Go both read "1m", "90s", "2h"; Flagger's CRD allows only
minutes and seconds in a Canary's intervals, so callers can narrow the units.
"""

from __future__ import annotations

_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_UNIT_WORDS = {"h": "h", "m": "min", "s": "s"}


def _largest_unit(seconds: int, units: str) -> str:
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {seconds}")
    for unit, size in _UNIT_SECONDS.items():
        if unit in units and seconds % size == 0:
            return unit
    raise ValueError(f"{seconds}s cannot be written in units {units!r}")


def duration(seconds: int, *, units: str = "hms") -> str:
    """60 -> "1m", 90 -> "90s", 7200 -> "2h"; `units="s"` keeps "60s"."""
    unit = _largest_unit(seconds, units)
    return f"{seconds // _UNIT_SECONDS[unit]}{unit}"


def in_words(seconds: int) -> str:
    """60 -> "1 min", 90 -> "90 s", for alert descriptions."""
    unit = _largest_unit(seconds, "ms")
    return f"{seconds // _UNIT_SECONDS[unit]} {_UNIT_WORDS[unit]}"
