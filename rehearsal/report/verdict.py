"""The verdict of a rehearsal, in one place: console block, JSON, JUnit, exit code."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rehearsal.outcome import Outcome
from rehearsal.spec.duration_text import human

EXIT_PROMOTED, EXIT_ROLLED_BACK, EXIT_CANNOT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass(frozen=True, kw_only=True)
class Verdict:
    word: str  # "promoted", "rolled back", "interrupted"
    exit_code: int
    decided_by: str  # the metric or event that decided it, in words
    failed_metrics: dict[str, int]  # metric -> failed checks


def failed_metric_counts(outcome: Outcome) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for record in outcome.ticks:
        for m in record.metrics:
            if not m.passed:
                counts[m.name] += 1
        for h in record.hooks:
            if not h.passed:
                counts[f"webhook {h.name}"] += 1
    return dict(counts.most_common())


def _deciding(outcome: Outcome) -> str:
    if outcome.boot_failure:
        return outcome.boot_failure
    failed = [t for t in outcome.ticks if t.transition.passed is False]
    if outcome.promoted or not failed:
        last = next((t for t in reversed(outcome.ticks) if t.metrics), None)
        if last is None:
            return "no analysis ran"
        return f"every check passed at weight {last.transition.before.canary_weight} %: " + (
            "; ".join(f"{m.name} {m.verdict}" for m in last.metrics)
        )
    last = failed[-1]
    failures = [f"{m.name} {m.verdict}" for m in last.metrics if not m.passed]
    failures += [f"webhook {h.name}: {h.detail}" for h in last.hooks if not h.passed]
    return f"{outcome.canary.threshold} failed checks; the last (tick {last.tick}): " + "; ".join(
        failures
    )


def verdict_of(outcome: Outcome) -> Verdict:
    if outcome.interrupted:
        word, code = "interrupted", EXIT_INTERRUPTED
    elif outcome.promoted:
        word, code = "promoted", EXIT_PROMOTED
    else:
        word, code = "rolled back", EXIT_ROLLED_BACK
    return Verdict(
        word=word,
        exit_code=code,
        decided_by=_deciding(outcome) if not outcome.interrupted else outcome.interrupted,
        failed_metrics=failed_metric_counts(outcome),
    )


def verdict_json(outcome: Outcome, *, scenario: str, expected: str | None) -> dict[str, Any]:
    v = verdict_of(outcome)
    load = outcome.load_total
    return {
        "verdict": v.word,
        "exit_code": v.exit_code,
        "expected": expected,
        "as_expected": expected is None or expected == v.word,
        "scenario": scenario,
        "decided_by": v.decided_by,
        "failed_checks": v.failed_metrics,
        "ticks": len(outcome.ticks),
        "max_canary_weight_percent": outcome.max_canary_weight,
        "simulated_s": outcome.simulated_s,
        "real_s": round(outcome.real_s, 3),
        "startup_s": round(outcome.startup_s, 3),
        "speed": outcome.options.speed,
        "orders": {"sent": load.sent, "failed": load.failed, "skipped": load.skipped},
        "engine": outcome.engine,
        "production_s": round(outcome.real_s * outcome.cluster.production_factor, 1)
        if outcome.cluster is not None
        else outcome.simulated_s,
        "by_version": dict(load.by_version),
    }


def verdict_lines(outcome: Outcome, *, scenario: str, expected: str | None) -> list[str]:
    """The block every run ends with."""
    v = verdict_of(outcome)
    load = outcome.load_total
    if expected is None or v.word == "interrupted":
        headline = v.word.upper()
    elif expected == v.word:
        headline = f"{v.word.upper()}, as expected for scenario {scenario!r}"
        if v.word == "rolled back":
            headline += ": the analysis caught the faulty canary"
    else:
        headline = f"{v.word.upper()}, NOT as expected for scenario {scenario!r} ({expected})"
    by_status = ", ".join(f"{code}: {n}" for code, n in sorted(load.by_status.items()))
    orders = (
        f"  orders     {load.sent} sent, {load.failed} failed"
        + (f" ({by_status})" if by_status else "")
        + (f", {load.skipped} throttle slots skipped" if load.skipped else "")
    )
    if outcome.engine == "flagger":
        versions = ", ".join(f"{k}: {n}" for k, n in sorted(load.by_version.items()))
        orders += f"; by the measuring client through Traefik, by version {versions or 'none'}"
    return [*_head(outcome, v, headline), orders]


def _time_line(outcome: Outcome) -> str:
    o = outcome.options
    if (cluster := outcome.cluster) is not None:
        production = outcome.real_s * cluster.production_factor
        return (
            f"  time       {outcome.real_s:.1f} s real on Flagger (interval "
            f"{outcome.canary.interval}), {human(production)} in production (interval "
            f"{cluster.production_interval_s:g}s, x{cluster.production_factor:g}), "
            f"+{outcome.startup_s:.1f} s start-up"
        )
    return (
        f"  time       {human(outcome.simulated_s)} simulated, {outcome.real_s:.1f} s real at "
        f"speed {o.speed:g}, +{outcome.startup_s:.1f} s start-up"
    )


def _head(outcome: Outcome, v: Verdict, headline: str) -> list[str]:
    return [
        "verdict",
        f"  result     {headline} (exit {v.exit_code})",
        f"  decided by {v.decided_by}",
        f"  ticks      {len(outcome.ticks)}, canary weight peaked at {outcome.max_canary_weight} %",
        _time_line(outcome),
    ]
