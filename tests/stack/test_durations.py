"""The one duration formatter."""

from __future__ import annotations

import pytest

from stack.durations import duration, in_words


@pytest.mark.parametrize(
    ("seconds", "units", "text"),
    [(60, "hms", "1m"), (90, "hms", "90s"), (7200, "hms", "2h"), (20, "hms", "20s"),
     (840, "hms", "14m"), (60, "s", "60s"), (3600, "ms", "60m")],
)  # fmt: skip
def test_duration(seconds: int, units: str, text: str) -> None:
    assert duration(seconds, units=units) == text


def test_in_words() -> None:
    assert (in_words(60), in_words(90), in_words(3600)) == ("1 min", "90 s", "60 min")


@pytest.mark.parametrize("seconds", [0, -5])
def test_nonpositive_is_refused(seconds: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        duration(seconds)
