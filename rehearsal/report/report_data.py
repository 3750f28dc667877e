"""report.json: every tick, metric value, hook call and load count of a rehearsal."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from rehearsal.outcome import Outcome, TickRecord
from rehearsal.report.verdict import verdict_of


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def tick_json(record: TickRecord) -> dict[str, Any]:
    t = record.transition
    return {
        "tick": record.tick,
        "real_s": round(record.real_s, 3),
        "simulated_s": record.simulated_s,
        "phase_before": str(t.before.phase),
        "phase": str(t.after.phase),
        "canary_weight": t.after.canary_weight,
        "primary_weight": t.after.primary_weight,
        "failed_checks": t.after.failed_checks,
        "stage": str(t.stage) if t.stage else None,
        "passed": t.passed,
        "action": str(t.action),
        "event": t.event,
        "hooks": [asdict(h) for h in record.hooks],
        "metrics": [
            {
                "name": m.name,
                "value": _finite(m.value),
                "min": m.min,
                "max": m.max,
                "passed": m.passed,
                "verdict": m.verdict,
                "query": m.query,
            }
            for m in record.metrics
        ],
        "load": asdict(record.load) | {"failed": record.load.failed},
        "routes": record.routes,
        "slot": record.slot,
        "dropped_ticks": record.dropped_ticks,
        "load_coverage": record.load_coverage,
    }


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    c, o = outcome.canary, outcome.options
    return {
        "canary": {
            "name": c.name,
            "namespace": c.namespace,
            "source": c.source.name,
            "interval": c.interval,
            "threshold": c.threshold,
            "step_weight": c.step_weight,
            "step_weights": list(c.step_weights),
            "max_weight": c.max_weight,
            "metrics": [
                {
                    "name": m.name,
                    "interval": m.interval,
                    "min": m.min,
                    "max": m.max,
                    "template": m.template.name if m.template else None,
                }
                for m in c.metrics
            ],
            "webhooks": [{"name": w.name, "type": w.type} for w in c.webhooks],
        },
        "options": {
            "speed": o.speed,
            "rate": o.rate,
            "scrape_interval_s": o.scrape_interval_s,
            "host": o.host,
            "primary": {"version": o.primary.version, "env": dict(o.primary.env)},
            "canary": {"version": o.canary.version, "env": dict(o.canary.env)},
        },
        "verdict": verdict_of(outcome).word,
        "decided_by": verdict_of(outcome).decided_by,
        "phase": str(outcome.phase),
        "durations": {
            "analysis_started_at": round(outcome.analysis_started_at, 3),  # unix time
            "startup_s": round(outcome.startup_s, 3),
            "real_s": round(outcome.real_s, 3),
            "simulated_s": outcome.simulated_s,
        },
        "max_canary_weight": outcome.max_canary_weight,
        "ticks": [tick_json(t) for t in outcome.ticks],
        "load_total": asdict(outcome.load_total) | {"failed": outcome.load_total.failed},
        "after_verdict": asdict(outcome.after_verdict) | {"failed": outcome.after_verdict.failed},
        "final_routes": outcome.final_routes,
        "load_windows": [asdict(w) for w in outcome.load_windows],
        "boot_failure": outcome.boot_failure,
        "engine": outcome.engine,
        # The model engine's clock is its own: x1, and no cluster to keep events.
        "production_factor": outcome.cluster.production_factor if outcome.cluster else 1.0,
        "cluster_events": outcome.cluster.events if outcome.cluster else [],
    }
