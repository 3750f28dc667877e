"""Flagger's analysis loop as a pure state machine: no processes, no Prometheus."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import pytest

from rehearsal.spec.flagger_analysis import (
    Action,
    Analysis,
    Phase,
    Stage,
    Status,
    Transition,
    next_step_weight,
    tick,
)

DEFAULT = Analysis(threshold=5, max_weight=50, step_weight=10)


def run(
    analysis: Analysis, answers: Callable[[int, Stage], bool], *, limit: int = 50
) -> list[Transition]:
    """Tick until a terminal phase; `answers(tick_number, stage)` decides each check."""
    status, transitions = Status(), []
    for number in range(1, limit + 1):
        transition = tick(analysis, status, functools.partial(answers, number))
        transitions.append(transition)
        status = transition.after
        if status.phase.terminal:
            return transitions
    raise AssertionError(f"no verdict after {limit} ticks: {status}")


def phases(transitions: Iterable[Transition]) -> list[tuple[str, int]]:
    return [(str(t.after.phase), t.after.canary_weight) for t in transitions]


def test_healthy_canary_advances_to_max_weight_then_promotes() -> None:
    transitions = run(DEFAULT, lambda n, stage: True)
    assert phases(transitions) == [
        ("Progressing", 0),  # new revision detected; nothing checked yet
        ("Progressing", 10),  # pre-rollout passed, first step on the same tick
        ("Progressing", 20),
        ("Progressing", 30),
        ("Progressing", 40),
        ("Progressing", 50),
        ("Promoting", 50),  # analysis at maxWeight passed: spec copied to primary
        ("Finalising", 0),  # all traffic to the (promoted) primary
        ("Succeeded", 0),
    ]
    assert [t.stage for t in transitions] == [
        None,
        Stage.PRE_ROLLOUT,
        *[Stage.ANALYSIS] * 5,
        None,
        None,
    ]
    assert [t.action for t in transitions if t.action != Action.NONE] == [
        Action.PROMOTE_PRIMARY,
        Action.SCALE_CANARY_TO_ZERO,
    ]


def test_failed_analysis_never_advances_and_rolls_back_on_the_tick_after_threshold() -> None:
    transitions = run(DEFAULT, lambda n, stage: stage == Stage.PRE_ROLLOUT)
    assert phases(transitions) == [
        ("Progressing", 0),
        ("Progressing", 10),
        *[("Progressing", 10)] * 5,  # five failed checks, weight held
        ("Failed", 0),  # threshold tested before any check on the next tick
    ]
    # The rollback tick reads the threshold, then leaves Flagger's status: 0 failed checks.
    assert [t.after.failed_checks for t in transitions] == [0, 0, 1, 2, 3, 4, 5, 0]
    assert transitions[-1].before.failed_checks == 5
    assert transitions[-1].stage is None  # no check runs on the rollback tick
    assert transitions[-1].action == Action.SCALE_CANARY_TO_ZERO


def test_failed_checks_accumulate_across_passing_ticks() -> None:
    # Odd ticks fail from tick 3 on: passes still advance, failures never reset,
    # and the fifth failure (at maxWeight) stops the promotion.
    transitions = run(DEFAULT, lambda n, stage: stage == Stage.PRE_ROLLOUT or n % 2 == 0)
    assert [t.after.canary_weight for t in transitions] == [
        0, 10, 10, 20, 20, 30, 30, 40, 40, 50, 50, 0
    ]  # fmt: skip
    assert [t.after.failed_checks for t in transitions] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 0]
    assert transitions[-1].after.phase == Phase.FAILED
    assert all(t.after.phase != Phase.PROMOTING for t in transitions)


def test_pre_rollout_failure_counts_and_is_retried_at_weight_zero() -> None:
    calls: list[tuple[int, Stage]] = []

    def answers(n: int, stage: Stage) -> bool:
        calls.append((n, stage))
        return not (stage == Stage.PRE_ROLLOUT and n < 4)

    transitions = run(DEFAULT, answers)
    # Ticks 2 and 3 fail the pre-rollout hook: weight stays 0, no metric is asked.
    assert calls[:3] == [(2, Stage.PRE_ROLLOUT), (3, Stage.PRE_ROLLOUT), (4, Stage.PRE_ROLLOUT)]
    assert [t.after.canary_weight for t in transitions[:4]] == [0, 0, 0, 10]
    assert transitions[3].after.failed_checks == 2
    assert transitions[-1].after.phase == Phase.SUCCEEDED  # 2 < threshold 5


def test_threshold_one_rolls_back_after_a_single_failure() -> None:
    analysis = Analysis(threshold=1, max_weight=50, step_weight=10)
    transitions = run(analysis, lambda n, stage: stage == Stage.PRE_ROLLOUT)
    assert phases(transitions)[-2:] == [("Progressing", 10), ("Failed", 0)]


def test_terminal_phases_do_nothing_and_ask_nothing() -> None:
    def never(stage: Stage) -> bool:
        raise AssertionError("a terminal canary must not run checks")

    for phase in (Phase.SUCCEEDED, Phase.FAILED):
        status = Status(phase=phase, failed_checks=2)
        assert tick(DEFAULT, status, never).after == status


@pytest.mark.parametrize(
    ("steps", "expected"),
    [((1, 5, 25, 50), [1, 5, 25, 50]), ((10, 100), [10, 100]), ((30, 60, 90), [30, 60, 90])],
)
def test_step_weights_follow_flaggers_next_step_weight(
    steps: tuple[int, ...], expected: list[int]
) -> None:
    analysis = Analysis(threshold=2, max_weight=0, step_weights=steps)
    transitions = run(analysis, lambda n, stage: True)
    weights = [t.after.canary_weight for t in transitions if t.after.phase == Phase.PROGRESSING]
    assert sorted(set(weights) - {0}) == expected
    assert transitions[-1].after.phase == Phase.SUCCEEDED


def test_step_weight_caps_at_total_weight() -> None:
    analysis = Analysis(threshold=2, max_weight=100, step_weight=40)
    weights = [t.after.canary_weight for t in run(analysis, lambda n, stage: True)]
    assert max(weights) == 100
    assert 80 in weights


def test_next_step_weight_prefers_step_weight() -> None:
    assert next_step_weight(Analysis(threshold=1, max_weight=50, step_weight=7), 14) == 7
    steps = Analysis(threshold=1, max_weight=0, step_weights=(5, 20))
    assert next_step_weight(steps, 0) == 5
    assert next_step_weight(steps, 5) == 15
