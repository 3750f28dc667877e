"""Flagger's canary analysis loop as a pure state machine.

One call to `tick()` is one run of Flagger's `advanceCanary` for a canary that
is already initialized (primary serving, canary weight 0). It follows
fluxcd/flagger `pkg/controller/scheduler.go` (`advanceCanary`, `runCanary`,
`runPromotionTrafficShift`, `rollback`, `nextStepWeight`) and
`scheduler_metrics.go`:

1. Initialized: a new revision is detected; the phase becomes Progressing and
   nothing else happens this tick (`checkCanaryStatus` returns false).
2. Promoting: all traffic back to the primary (which now runs the canary's
   spec), phase Finalising. Finalising: canary scaled to zero, Succeeded.
3. Progressing: the failed-check threshold is tested BEFORE any check runs,
   so a rollback happens on the tick after the last failed check; the
   status it leaves is Failed with weight, failed checks and iterations 0.
4. Weight 0 and no iterations yet: only the pre-rollout webhooks run (no
   metrics, since no traffic reaches the canary); otherwise the analysis runs
   (rollout webhooks, then the metrics). A failure adds one failed check and
   ends the tick WITHOUT advancing the weight; failed checks never reset.
5. Success: advance by the next step up to maxWeight; at maxWeight the spec
   is copied to the primary (Promote) and the phase becomes Promoting.

The machine never touches processes or Prometheus: the caller passes a
`check` callback that runs the requested stage and answers pass/fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise

TOTAL_WEIGHT = 100


class Phase(StrEnum):
    INITIALIZED = "Initialized"
    PROGRESSING = "Progressing"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)


class Stage(StrEnum):
    """What a tick asks the outside world to check."""

    PRE_ROLLOUT = "pre-rollout"
    ANALYSIS = "analysis"


class Action(StrEnum):
    """What a tick asks the outside world to do (besides setting weights)."""

    NONE = "none"
    PROMOTE_PRIMARY = "promote-primary"  # copy the canary spec to the primary
    SCALE_CANARY_TO_ZERO = "scale-canary-to-zero"


@dataclass(frozen=True, kw_only=True)
class Analysis:
    """The Canary's analysis settings the loop depends on."""

    threshold: int
    max_weight: int
    step_weight: int = 0
    step_weights: Sequence[int] = ()


@dataclass(frozen=True, kw_only=True)
class Status:
    """The Canary's `.status` as Flagger keeps it."""

    phase: Phase = Phase.INITIALIZED
    canary_weight: int = 0
    failed_checks: int = 0
    iterations: int = 0

    @property
    def primary_weight(self) -> int:
        return TOTAL_WEIGHT - self.canary_weight


@dataclass(frozen=True, kw_only=True)
class Transition:
    """One tick: the status before and after, and what ran."""

    before: Status
    after: Status
    stage: Stage | None
    passed: bool | None
    action: Action
    event: str

    @property
    def weights_changed(self) -> bool:
        return self.before.canary_weight != self.after.canary_weight


def max_weight(analysis: Analysis) -> int:
    """Flagger's `maxWeight()`: the last stepWeights entry, else maxWeight, else 100."""
    if analysis.step_weights:
        return min(TOTAL_WEIGHT, analysis.step_weights[-1])
    return analysis.max_weight or TOTAL_WEIGHT


def next_step_weight(analysis: Analysis, canary_weight: int) -> int:
    """Flagger's `nextStepWeight()`: how much weight the next advance adds."""
    if analysis.step_weight > 0 or not analysis.step_weights:
        return analysis.step_weight
    max_step = TOTAL_WEIGHT - canary_weight
    if max_step == 0:
        return 1
    steps = list(analysis.step_weights)
    if canary_weight == 0:
        return min(max_step, steps[0])
    for current, following in pairwise(steps):
        if current == canary_weight:
            return min(max_step, following - canary_weight)
    return max_step


def tick(analysis: Analysis, status: Status, check: Callable[[Stage], bool]) -> Transition:
    """Advance the canary by one analysis interval."""

    def done(
        after: Status,
        event: str,
        *,
        stage: Stage | None = None,
        passed: bool | None = None,
        action: Action = Action.NONE,
    ) -> Transition:
        return Transition(
            before=status, after=after, stage=stage, passed=passed, action=action, event=event
        )

    phase = status.phase
    if phase.terminal:
        return done(status, f"{phase}: nothing to do")
    if phase == Phase.INITIALIZED:
        return done(
            replace(status, phase=Phase.PROGRESSING), "New revision detected! Scaling up canary"
        )
    if phase == Phase.PROMOTING:
        # stepWeightPromotion unset: route all traffic to the primary in one go.
        return done(
            replace(status, phase=Phase.FINALISING, canary_weight=0),
            "Routing all traffic to primary",
        )
    if phase == Phase.FINALISING:
        return done(
            replace(status, phase=Phase.SUCCEEDED),
            "Promotion completed! Scaling down canary",
            action=Action.SCALE_CANARY_TO_ZERO,
        )
    if status.failed_checks >= analysis.threshold:
        # rollback() syncs the status {Phase: Failed, CanaryWeight: 0}: the
        # failed checks and iterations read 0 afterwards, as `kubectl get canary` shows.
        return done(
            Status(phase=Phase.FAILED),
            f"Rolling back: failed checks threshold reached {status.failed_checks}",
            action=Action.SCALE_CANARY_TO_ZERO,
        )
    stage = (
        Stage.PRE_ROLLOUT
        if status.canary_weight == 0 and status.iterations == 0
        else Stage.ANALYSIS
    )
    if not check(stage):
        return done(
            replace(status, failed_checks=status.failed_checks + 1),
            f"Halt advancement: {stage} check failed",
            stage=stage,
            passed=False,
        )
    limit = max_weight(analysis)
    if status.canary_weight < limit:
        weight = min(
            TOTAL_WEIGHT, status.canary_weight + next_step_weight(analysis, status.canary_weight)
        )
        return done(
            replace(status, canary_weight=weight),
            f"Advance canary weight {weight}",
            stage=stage,
            passed=True,
        )
    return done(
        replace(status, phase=Phase.PROMOTING),
        "Copying canary template spec to primary",
        stage=stage,
        passed=True,
        action=Action.PROMOTE_PRIMARY,
    )
