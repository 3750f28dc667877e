"""report.md: the verdict, what ran, and one table row per tick (units in the headers)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any

from rehearsal.outcome import Outcome
from rehearsal.report.report_charts import verdict_word
from rehearsal.report.verdict import verdict_of
from rehearsal.spec.duration_text import human


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"


def _header(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def markdown(
    outcome: Outcome, charts: Sequence[dict[str, Any]], *, commit: str = "", ran_at: str = ""
) -> str:
    c, o = outcome.canary, outcome.options
    metrics = c.metrics_in_flagger_order()
    v = verdict_of(outcome)
    load = outcome.load_total
    env = " ".join(f"`{k}={val}`" for k, val in sorted(o.canary.env.items())) or "no faults"
    windows = "; ".join(
        f"{w.hook} {w.start_s:.1f}-{'end' if w.end_s is None else f'{w.end_s:.1f}'} s"
        for w in outcome.load_windows
    )
    lines = [
        f"# Canary rehearsal: {c.namespace}/{c.name} — {verdict_word(outcome)}",
        "",
        f"- Verdict: **{v.word}** (phase {outcome.phase}, exit {v.exit_code}) after "
        f"{len(outcome.ticks)} ticks; canary weight peaked at {outcome.max_canary_weight} %.",
        f"- Decided by: {v.decided_by}.",
        f"- Ran at {ran_at or 'unknown time'} from commit `{commit or 'unknown'}`.",
        f"- Canary from `{c.source.name}`: interval {c.interval}, threshold {c.threshold} "
        f"failed checks, stepWeight {c.step_weight} %, maxWeight {c.max_weight} %.",
        f"- Primary {o.primary.version}; canary {o.canary.version} ({env}).",
        f"- Engine: {outcome.engine}"
        + (
            f" (the real Flagger on the local cluster; x{outcome.cluster.production_factor:g} to "
            "production time)."
            if outcome.cluster is not None
            else " (the rehearsal's loop of Flagger)."
        ),
        f"- Simulated {human(outcome.simulated_s)} in {outcome.real_s:.1f} s real at speed "
        f"{o.speed:g} (+{outcome.startup_s:.1f} s start-up); scrape interval "
        f"{o.scrape_interval_s:g} s.",
        f"- Load ({_load_source(outcome)}, through Traefik with Host {o.host}): "
        f"{load.sent} orders, {load.failed} failed; by status {_counts_text(load.by_status)}; "
        f"by version {_counts_text(load.by_version)}; {load.skipped} throttle slots skipped; "
        + (
            f"ran {windows or 'never'} (s since the analysis started)."
            if outcome.engine == "model"
            else "the Canary's load ran in the loadtester pod."
        ),
        f"- After the verdict: by version {_counts_text(outcome.after_verdict.by_version)}; "
        f"Traefik weights {_counts_text(outcome.final_routes)}.",
        "",
        "| tick | real (s) | simulated | phase | weight (%) | "
        + " | ".join(_header(m.name, m.unit) for m in metrics)
        + " | load (orders) | failed checks | event |",
        "|---:|---:|---:|---|---:|" + "---|" * len(metrics) + "---:|---:|---|",
    ]
    for record in outcome.ticks:
        after = record.transition.after
        values = {m.name: m.verdict + ("" if m.passed else " ✗") for m in record.metrics}
        hooks = "; ".join(
            f"{h.name}: {'ok' if h.passed else 'failed'}, {h.detail}" for h in record.hooks
        )
        event = record.transition.event + (f" ({hooks})" if hooks else "")
        lines.append(
            f"| {record.tick} | {record.real_s:.1f} | {human(record.simulated_s)} | "
            f"{after.phase} | {after.canary_weight} | "
            + " | ".join(values.get(m.name, "") for m in metrics)
            + f" | {record.load.sent} | {after.failed_checks}/{c.threshold} | {event} |"
        )
    lines += ["", "## Charts", ""]
    for chart in charts:
        lines += [f"![{chart['title']}]({chart['file']})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _load_source(outcome: Outcome) -> str:
    if outcome.engine == "flagger":
        return "the measuring client; the Canary's hey ran in the cluster's loadtester"
    return "the Canary's hey commands"


def commit() -> str:
    """The checkout's short commit, for the report (empty outside git)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""
