"""What the Flagger engine reads from the cluster, parsed into the model's records.

Sources, all read-only:
- the Canary's `.status` (phase, canaryWeight, failedChecks, iterations);
- Flagger's log lines for the Canary: Flagger logs every event it records
  (`recordEventInfof` and friends log, then emit), with a millisecond time;
  unlike the Kubernetes events, which the client-side spam filter (25 per
  object and type, one more per 5 minutes) and the aggregation of similar
  events thin out after a rollout or two, the log has every tick;
- the Kubernetes events of the Canary, kept for the report;
- `flagger_canary_metric_analysis` in Prometheus: each metric's value as
  Flagger last saw it (request-duration in seconds).

One Flagger run of `advanceCanary` logs its lines within a fraction of a
second, and runs are an analysis interval apart, so the lines group into ticks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rehearsal.outcome import HookResult, MetricResult
from rehearsal.spec.canary_spec import Canary, Metric
from rehearsal.spec.flagger_analysis import Action, Phase, Stage, Status, Transition
from rehearsal.spec.metric_query import render_metric_query
from stack.names import REQUEST_DURATION, REQUEST_SUCCESS_RATE

# Flagger's phases that the model has no state for, mapped onto its states.
PHASES: dict[str, Phase] = {
    "": Phase.INITIALIZED,
    "Initializing": Phase.INITIALIZED,
    "Initialized": Phase.INITIALIZED,
    "Waiting": Phase.PROGRESSING,
    "Progressing": Phase.PROGRESSING,
    "WaitingPromotion": Phase.PROGRESSING,
    "Promoting": Phase.PROMOTING,
    "Finalising": Phase.FINALISING,
    "Succeeded": Phase.SUCCEEDED,
    "Failed": Phase.FAILED,
    "Terminating": Phase.FAILED,
    "Terminated": Phase.FAILED,
}
ACTIVE_PHASES = frozenset({"Progressing", "Waiting", "WaitingPromotion", "Promoting", "Finalising"})
COMBINED_PREFIX = "(combined from similar events): "


@dataclass(frozen=True, kw_only=True)
class CanaryStatus:
    phase: str
    canary_weight: int
    failed_checks: int
    iterations: int
    last_transition: str = ""

    @property
    def status(self) -> Status:
        return Status(
            phase=PHASES.get(self.phase, Phase.PROGRESSING),
            canary_weight=self.canary_weight,
            failed_checks=self.failed_checks,
            iterations=self.iterations,
        )

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES


def canary_status(doc: Mapping[str, Any]) -> CanaryStatus:
    """The status of a Canary object (`kubectl get canary -o json`)."""
    status = doc.get("status") or {}
    return CanaryStatus(
        phase=str(status.get("phase") or ""),
        canary_weight=int(status.get("canaryWeight") or 0),
        failed_checks=int(status.get("failedChecks") or 0),
        iterations=int(status.get("iterations") or 0),
        last_transition=str(status.get("lastTransitionTime") or ""),
    )


def parse_time(text: str) -> float:
    """Flagger's ISO 8601 times ("2026-12-01T08:40:09.123Z") and Kubernetes' RFC 3339."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, kw_only=True)
class LogLine:
    at: float  # unix time
    level: str
    message: str


def flagger_log_lines(text: str, canary_key: str) -> list[LogLine]:
    """Flagger's JSON log lines about `canary_key` (`<name>.<namespace>`)."""
    lines = []
    for raw in text.splitlines():
        if not raw.startswith("{"):
            continue
        try:
            entry = json.loads(raw)
            if entry.get("canary") != canary_key:
                continue
            lines.append(
                LogLine(
                    at=parse_time(str(entry["ts"])),
                    level=str(entry.get("level", "")),
                    message=str(entry.get("msg", "")),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return lines


@dataclass(frozen=True, kw_only=True)
class ClusterEvent:
    at: float
    type: str
    reason: str
    message: str
    count: int


class EventTracker:
    """New occurrences in successive `kubectl get events -o json` lists.

    An event seen again with a higher count (or a new message: the aggregate
    of similar events) is a new occurrence."""

    def __init__(self, *, since: float = 0.0) -> None:
        self.since = since
        self._seen: dict[str, tuple[int, str]] = {}

    def feed(self, doc: Mapping[str, Any], *, kind: str = "Canary") -> list[ClusterEvent]:
        new = []
        for item in doc.get("items") or []:
            if (item.get("involvedObject") or {}).get("kind") != kind:
                continue
            meta = item.get("metadata") or {}
            uid = str(meta.get("uid") or meta.get("name"))
            count = int(item.get("count") or 1)
            message = str(item.get("message") or "").removeprefix(COMBINED_PREFIX)
            stamp = item.get("lastTimestamp") or item.get("eventTime") or ""
            at = parse_time(stamp) if stamp else 0.0
            if self._seen.get(uid) == (count, message) or at < self.since:
                self._seen[uid] = (count, message)
                continue
            self._seen[uid] = (count, message)
            new.append(
                ClusterEvent(
                    at=at,
                    type=str(item.get("type") or ""),
                    reason=str(item.get("reason") or ""),
                    message=message,
                    count=count,
                )
            )
        return sorted(new, key=lambda e: e.at)


class TickGrouper:
    """Flagger log lines grouped into ticks: one group per run of advanceCanary.

    A group starts with the first line after the previous group; lines within
    `span_s` of its start belong to it; it closes once `quiet_s` passed
    without a line (or `span_s` after its start)."""

    def __init__(self, *, span_s: float, quiet_s: float = 2.0) -> None:
        self.span_s, self.quiet_s = span_s, quiet_s
        self._open: list[LogLine] = []
        self._seen = 0

    def feed(self, lines: Sequence[LogLine], *, now: float) -> list[list[LogLine]]:
        """`lines`: every line so far (the log is re-read); returns closed groups."""
        closed: list[list[LogLine]] = []
        for line in lines[self._seen :]:
            if self._open and line.at - self._open[0].at > self.span_s:
                closed.append(self._open)
                self._open = []
            self._open.append(line)
        self._seen = len(lines)
        if self._open and (
            now - self._open[-1].at >= self.quiet_s or now - self._open[0].at >= self.span_s
        ):
            closed.append(self._open)
            self._open = []
        return closed

    def flush(self) -> list[list[LogLine]]:
        group, self._open = self._open, []
        return [group] if group else []


# Flagger's halt messages (pkg/controller/scheduler_metrics.go), per metric kind.
_NO_VALUES_BUILTIN = re.compile(r"no values found for \S+ metric (?P<name>[\w.-]+)")
_NO_VALUES_CUSTOM = re.compile(r"no values found for (?:custom )?metric: (?P<name>[\w.-]+)")
_QUERY_FAILED = re.compile(r"(?:Metric query|Prometheus query) failed for (?P<name>[\w.-]+):")
_SUCCESS_RATE = re.compile(r"advancement success rate (?P<value>[\d.]+)%")
_DURATION = re.compile(r"advancement request duration (?P<value>\S+) [<>]")
_CUSTOM = re.compile(r"advancement (?P<name>[\w.-]+) (?P<value>-?[\d.]+(?:e[-+]?\d+)?) [<>]")
_PRE_ROLLOUT = re.compile(r"Pre-rollout check (?P<name>[\w.-]+) passed")
_PRE_ROLLOUT_FAILED = re.compile(r"pre-rollout check (?P<name>[\w.-]+) failed (?P<detail>.*)")
_EXTERNAL_FAILED = re.compile(r"external check (?P<name>[\w.-]+) failed (?P<detail>.*)")


@dataclass(frozen=True, kw_only=True)
class Halt:
    metric: str
    detail: str  # "no values found", "error: ...", "" (a value outside the range)


def halt_of(messages: Iterable[str], canary: Canary) -> Halt | None:
    """Which metric stopped the analysis this tick, from Flagger's messages."""
    names = {m.name for m in canary.metrics}
    for text in messages:
        if "no values found" in text:
            for pattern in (_NO_VALUES_BUILTIN, _NO_VALUES_CUSTOM):
                match = pattern.search(text)
                if match and match["name"].rstrip(":") in names:
                    return Halt(metric=match["name"].rstrip(":"), detail="no values found")
        match = _QUERY_FAILED.search(text)
        if match and match["name"] in names:
            return Halt(metric=match["name"], detail=f"error: {text}")
        if _SUCCESS_RATE.search(text):
            return Halt(metric=REQUEST_SUCCESS_RATE, detail="")
        if _DURATION.search(text):
            return Halt(metric=REQUEST_DURATION, detail="")
        match = _CUSTOM.search(text)
        if match and match["name"] in names:
            return Halt(metric=match["name"], detail="")
        if "Prometheus query failed" in text:  # a built-in query: which one is not said
            builtin = [m.name for m in canary.metrics_in_flagger_order() if m.builtin]
            return Halt(metric=builtin[0] if builtin else "", detail=f"error: {text}")
    return None


def hooks_of(messages: Iterable[str]) -> list[HookResult]:
    """The webhook outcomes Flagger logged this tick."""
    hooks = []
    for text in messages:
        if match := _PRE_ROLLOUT.search(text):
            hooks.append(HookResult(name=match["name"], passed=True, detail="passed"))
        elif match := _PRE_ROLLOUT_FAILED.search(text) or _EXTERNAL_FAILED.search(text):
            hooks.append(HookResult(name=match["name"], passed=False, detail=match["detail"]))
    return hooks


def gauge_value(metric: Metric, value: float) -> float:
    """The gauge in the metric's unit: Flagger stores request-duration in seconds."""
    return value * 1000 if metric.name == REQUEST_DURATION else value


def tick_metrics(
    canary: Canary,
    *,
    analysed: bool,
    halt: Halt | None,
    gauges: Mapping[str, float],
) -> list[MetricResult]:
    """Each metric Flagger evaluated this tick, in its order, with its value.

    Flagger stops at the first failing metric: those before it passed (their
    gauges hold this tick's values), the failing one carries its gauge value
    unless its query found nothing, and the ones after it did not run."""
    if not analysed:
        return []
    results = []
    for metric in canary.metrics_in_flagger_order():
        failing = halt is not None and halt.metric == metric.name
        raw = gauges.get(metric.name)
        value = None if raw is None or (failing and halt and halt.detail) else raw
        result = MetricResult(
            name=metric.name,
            query=render_metric_query(canary, metric, speed=1.0),
            value=None if value is None else gauge_value(metric, value),
            min=metric.min,
            max=metric.max,
            error=halt.detail.removeprefix("error: ")
            if failing and halt and halt.detail.startswith("error")
            else "",
            unit=metric.unit,
        )
        results.append(result)
        if failing:
            break
    return results


def transition_of(before: Status, after: Status, messages: Sequence[str]) -> Transition:
    """The model's Transition for one observed Flagger tick."""
    text = " ".join(messages)
    stage: Stage | None = None
    if "Starting canary analysis" in text:
        stage = Stage.PRE_ROLLOUT
    elif before.phase == Phase.PROGRESSING and (
        after.failed_checks > before.failed_checks
        or after.canary_weight > before.canary_weight
        or after.phase == Phase.PROMOTING
    ):
        stage = Stage.ANALYSIS
    passed: bool | None = None
    if stage is not None:
        passed = after.failed_checks <= before.failed_checks
    action = Action.NONE
    if "Copying" in text:
        action = Action.PROMOTE_PRIMARY
    elif "Scaling down" in text and after.phase.terminal:
        action = Action.SCALE_CANARY_TO_ZERO
    return Transition(
        before=before,
        after=after,
        stage=stage,
        passed=passed,
        action=action,
        event="; ".join(messages),
    )


def analysed(transition: Transition) -> bool:
    return transition.stage == Stage.ANALYSIS


def gauges_of(series: Iterable[tuple[Mapping[str, str], float]]) -> dict[str, float]:
    """flagger_canary_metric_analysis series -> {metric: value}."""
    return {labels.get("metric", ""): value for labels, value in series}


def traefik_weights(doc: Mapping[str, Any]) -> dict[str, int]:
    """The weights of Flagger's TraefikService, by Traefik's backend name
    (`<namespace>-<service>-<port>`, as the model engine names them)."""
    namespace = (doc.get("metadata") or {}).get("namespace", "")
    services = ((doc.get("spec") or {}).get("weighted") or {}).get("services") or []
    return {
        f"{namespace}-{s.get('name')}-{s.get('port')}": int(s.get("weight") or 0) for s in services
    }


def state_sequence(transitions: Iterable[Transition]) -> list[tuple[str, int, int]]:
    """(phase, canary weight, failed checks) after each tick, repeats dropped.

    What the model and Flagger must agree on: ticks that change nothing (a
    Flagger run waiting for the canary's pods, a tick after the verdict) are
    timing, not decisions."""
    out: list[tuple[str, int, int]] = []
    for t in transitions:
        state = (str(t.after.phase), t.after.canary_weight, t.after.failed_checks)
        if not out or out[-1] != state:
            out.append(state)
    return out
