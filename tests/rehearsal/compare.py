"""Does the model agree with the real Flagger? Two report.json documents compared.

The test oracle of the two engines, and the contract between them: the model
engine is the fast approximation, the real Flagger the reference.

What must agree: the verdict, and the sequence of (phase, canary weight,
failed checks) states the Canary went through. Timing is not compared: a
tick that changes nothing (Flagger waiting for the canary's pods to be
ready, its job restarting on a new interval) is dropped from both sides, and
tick times differ by the jitter of two clocks (stated by the callers).

One tolerance, asked for by name (`noise`): a latency gate of 500 ms over a
p99 flips on one slow request among the ~60 a canary window holds at 10 %,
and a machine shared with other work has such stalls. With `noise` given, a
single failed check of one of those metrics on one side only is discounted
(that tick passes, later failed-check counts drop by one) and reported in
`tolerated`; a second one, or one the other side also has, is compared as is.

A second, also by name (`same_failure`): gates that measure the same failures
from two sources (Traefik's request-success-rate and order-api's error-rate).
When the failed checks differ in one place only, at the same weight, and the
two names there are both such gates, that check counts as the same failure
and is reported in `tolerated`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


def _first_failing(tick: Mapping[str, Any]) -> str:
    failing = [m["name"] for m in tick.get("metrics", []) if not m["passed"]]
    failing += [f"webhook {h['name']}" for h in tick.get("hooks", []) if not h["passed"]]
    return failing[0] if failing else "?"


def failed_ticks(report: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(weight, first failing metric or hook) of every tick that added a failed check."""
    return [
        (int(t["canary_weight"]), _first_failing(t))
        for t in report.get("ticks", [])
        if t.get("passed") is False
    ]


def _discounted(report: Mapping[str, Any], metric: str) -> dict[str, Any]:
    """The report as if its first failed check of `metric` had passed."""
    out = copy.deepcopy(dict(report))
    ticks = out.get("ticks", [])
    start = next(
        i for i, t in enumerate(ticks) if t.get("passed") is False and _first_failing(t) == metric
    )
    ticks[start]["passed"] = True
    for tick in ticks[start:]:
        tick["failed_checks"] = max(0, int(tick["failed_checks"]) - 1)
    return out


def _one_sided(
    mine: Mapping[str, Any], other: Mapping[str, Any], noise: frozenset[str]
) -> str | None:
    """The one noise metric that failed once here and never on the other side."""
    names = [name for _, name in failed_ticks(mine) if name in noise]
    theirs = {name for _, name in failed_ticks(other)}
    return names[0] if len(names) == 1 and names[0] not in theirs else None


@dataclass(frozen=True, kw_only=True)
class Comparison:
    model_verdict: str
    flagger_verdict: str
    model_states: Sequence[State]
    flagger_states: Sequence[State]
    model_failures: Sequence[tuple[int, str]]
    flagger_failures: Sequence[tuple[int, str]]
    tolerated: Sequence[str] = field(default_factory=tuple)

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
            *(f"tolerated      {t}" for t in self.tolerated),
        ]


def _text(seq: Sequence[State]) -> str:
    return " -> ".join(f"{p[:4]} {w}%/{f}" for p, w, f in seq)


def _gate_swap(
    model: list[tuple[int, str]], flagger: list[tuple[int, str]], gates: frozenset[str]
) -> int | None:
    """The one place where the two sides failed different gates of `gates`, if that
    is their only difference."""
    if len(model) != len(flagger):
        return None
    places = [i for i, (m, f) in enumerate(zip(model, flagger, strict=True)) if m != f]
    if len(places) != 1:
        return None
    (m_weight, m_name), (f_weight, f_name) = model[places[0]], flagger[places[0]]
    return places[0] if m_weight == f_weight and {m_name, f_name} <= gates else None


def compare(
    model: Mapping[str, Any],
    flagger: Mapping[str, Any],
    *,
    noise: frozenset[str] = frozenset(),
    same_failure: frozenset[str] = frozenset(),
) -> Comparison:
    tolerated: list[str] = []
    for side, report, other in (("model", model, flagger), ("Flagger", flagger, model)):
        metric = _one_sided(report, other, noise)
        if metric is not None and not tolerated:
            weight = next(w for w, name in failed_ticks(report) if name == metric)
            tolerated.append(f"{side}: one failed {metric} check at {weight} % (noise)")
            if side == "model":
                model = _discounted(model, metric)
            else:
                flagger = _discounted(flagger, metric)
    model_failures, flagger_failures = failed_ticks(model), failed_ticks(flagger)
    place = _gate_swap(model_failures, flagger_failures, same_failure)
    if place is not None:
        weight, name = model_failures[place]
        tolerated.append(
            f"one failed check at {weight} %: model {name}, Flagger "
            f"{flagger_failures[place][1]} (the same failures, seen by two gates)"
        )
        flagger_failures[place] = model_failures[place]
    return Comparison(
        tolerated=tuple(tolerated),
        model_verdict=str(model.get("verdict")),
        flagger_verdict=str(flagger.get("verdict")),
        model_states=states(model),
        flagger_states=states(flagger),
        model_failures=model_failures,
        flagger_failures=flagger_failures,
    )
