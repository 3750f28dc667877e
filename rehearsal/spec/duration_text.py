"""Go-style durations ("1m", "30s", "1m30s", "500ms") as Flagger writes them."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; ValueError when it is not one."""
    text = text.strip()
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 1m, 1m30s)")
    return total


def prometheus_duration(seconds: float) -> str:
    """A PromQL range for `seconds`, exact to the millisecond ("6s", "8571ms")."""
    millis = max(1, round(seconds * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def human(seconds: float) -> str:
    """ "9m0s", "54.2s": how long something took, for people."""
    if seconds >= 60:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes}m{rest}s"
    return f"{seconds:.1f}s"
