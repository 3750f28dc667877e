"""Does the model agree with the real Flagger? Two report.json documents compared.

What must agree: the verdict, and the sequence of (phase, canary weight,
failed checks) states the Canary went through. Timing is not compared: a
tick that changes nothing (Flagger waiting for the canary's pods to be
ready, its job restarting on a new interval) is dropped from both sides, and
tick times differ by the jitter of two clocks (stated by the callers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

State = tuple[str, int, int]


def states(report: Mapping[str, Any]) -> list[State]:
    """(phase, canary weight, failed checks) after each tick, repeats dropped."""
    out: list[State] = []
    for tick in report.get("ticks", []):
        state = (str(tick["phase"]), int(tick["canary_weight"]), int(tick["failed_checks"]))
        if not out or out[-1] != state:
            out.append(state)
    return out


def failed_ticks(report: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(weight, first failing metric or hook) of every tick that added a failed check."""
    out = []
    for tick in report.get("ticks", []):
        if tick.get("passed") is False:
            failing = [m["name"] for m in tick.get("metrics", []) if not m["passed"]]
            failing += [f"webhook {h['name']}" for h in tick.get("hooks", []) if not h["passed"]]
            out.append((int(tick["canary_weight"]), failing[0] if failing else "?"))
    return out


@dataclass(frozen=True, kw_only=True)
class Comparison:
    model_verdict: str
    flagger_verdict: str
    model_states: Sequence[State]
    flagger_states: Sequence[State]
    model_failures: Sequence[tuple[int, str]]
    flagger_failures: Sequence[tuple[int, str]]

    @property
    def differences(self) -> list[str]:
        out = []
        if self.model_verdict != self.flagger_verdict:
            out.append(f"verdict: model {self.model_verdict}, Flagger {self.flagger_verdict}")
        if list(self.model_states) != list(self.flagger_states):
            out.append(
                f"states: model {list(self.model_states)}, Flagger {list(self.flagger_states)}"
            )
        model_metrics = [name for _, name in self.model_failures]
        flagger_metrics = [name for _, name in self.flagger_failures]
        if model_metrics != flagger_metrics:
            out.append(f"failed checks: model {model_metrics}, Flagger {flagger_metrics}")
        return out

    @property
    def agree(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        return [
            f"verdict        model {self.model_verdict:<12} Flagger {self.flagger_verdict}",
            f"states model   {_text(self.model_states)}",
            f"states Flagger {_text(self.flagger_states)}",
            f"failed model   {list(self.model_failures)}",
            f"failed Flagger {list(self.flagger_failures)}",
        ]


def _text(seq: Sequence[State]) -> str:
    return " -> ".join(f"{p[:4]} {w}%/{f}" for p, w, f in seq)


def compare(model: Mapping[str, Any], flagger: Mapping[str, Any]) -> Comparison:
    return Comparison(
        model_verdict=str(model.get("verdict")),
        flagger_verdict=str(flagger.get("verdict")),
        model_states=states(model),
        flagger_states=states(flagger),
        model_failures=failed_ticks(model),
        flagger_failures=failed_ticks(flagger),
    )
