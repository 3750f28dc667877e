"""What a person reads while the rehearsal runs: one short block per tick.

Lines fit the terminal (long details are cut with an ellipsis; a pipe or a
log gets them whole), every value
carries its unit, and colour is used only on a terminal and never when
NO_COLOR is set (https://no-color.org).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from typing import TextIO

from rehearsal.outcome import TickRecord
from rehearsal.spec.canary_spec import Canary
from rehearsal.spec.duration_text import human

RED, GREEN, YELLOW, BOLD, RESET = "\033[31m", "\033[32m", "\033[33m", "\033[1m", "\033[0m"
DEFAULT_WIDTH = 100


class Console:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.colour = tty and not os.environ.get("NO_COLOR")
        # Cut only for a terminal: a log or a pipe keeps every detail.
        self.width: int | None = (
            shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns if tty else None
        )

    def paint(self, text: str, colour: str) -> str:
        return f"{colour}{text}{RESET}" if self.colour else text

    def fit(self, line: str) -> str:
        if self.width is None or len(line) <= self.width:
            return line
        return line[: self.width - 1] + "…"

    def print(self, line: str = "", *, colour: str = "") -> None:
        fitted = self.fit(line)
        print(self.paint(fitted, colour) if colour else fitted, file=self.stream, flush=True)

    def ok(self, passed: bool) -> str:
        return self.paint("ok", GREEN) if passed else self.paint("FAILED", RED)


def tick_lines(
    record: TickRecord, canary: Canary, *, sim_word: str = "sim"
) -> list[tuple[str, bool | None]]:
    """(text, passed) per line: a header, then one line per hook and metric.

    `sim_word`: "sim" for the model's simulated time, "prod" for the Flagger
    engine's equivalent production time."""
    after = record.transition.after
    header = (
        f"tick {record.tick:2d}  {human(record.simulated_s):>6} {sim_word} / "
        f"{record.real_s:5.1f} s real"
        f"  {after.phase}  weight {after.canary_weight} %"
        f"  failed checks {after.failed_checks}/{canary.threshold}"
        f"  load {record.load.sent} orders"
    )
    lines: list[tuple[str, bool | None]] = [(header, None)]
    if record.dropped_ticks:
        lines.append((f"    {record.dropped_ticks} missed ticks dropped after a stall", None))
    if record.load_coverage is not None and record.load_coverage < 0.5:
        lines.append(
            (
                f"    load ran in only {100 * record.load_coverage:.0f} % of the metric window "
                "before this tick: no hey command was running",
                None,
            )
        )
    for h in record.hooks:
        lines.append((f"    webhook {h.name}: {h.detail}", h.passed))
    for m in record.metrics:
        lines.append((f"    {m.name:<22} {m.verdict}", m.passed))
    if record.load.skipped:
        lines.append((f"    load fell short: {record.load.skipped} throttle slots skipped", None))
    if record.transition.event:
        lines.append((f"    {record.transition.event}", None))
    return lines


def tick_printer(
    console: Console, canary: Canary, *, sim_word: str = "sim"
) -> Callable[[TickRecord], None]:
    def show(record: TickRecord) -> None:
        for text, passed in tick_lines(record, canary, sim_word=sim_word):
            if passed is None:
                console.print(text)
            else:
                status = "ok" if passed else "FAILED"
                fitted = console.fit(f"{text}  {status}")
                if fitted.endswith(status):
                    fitted = fitted[: -len(status)] + console.ok(passed)
                print(fitted, file=console.stream, flush=True)

    return show
