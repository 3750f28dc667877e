"""`python -m rehearsal power`: what the configured Canary's gates can detect.

Exit status: 0 answered, 1 --check and a bound is exceeded (the message names
the settings to change), 2 bad input (the message names the file or flag).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rehearsal.power.curves import HEALTHY_BUDGET_SHARE, Study, Summary, benchmark, summarize
from rehearsal.power.measured_latency import read_histogram
from rehearsal.power.monte_carlo import Arrivals, ErrorProcess, Latency, Traffic, Truth
from rehearsal.power.rehearsal_links import SpecError, load_canary
from rehearsal.power.release_plan import Plan, plan_from_canary

EXIT_OK, EXIT_OUT_OF_BOUNDS, EXIT_BAD_INPUT = 0, 1, 2
# The stack settings (stack/config.py, canary section) that move each figure.
NOISE_SETTINGS = ("load_rps", "metric_window_s", "interval_s", "threshold")
POWER_SETTINGS = ("load_rps", "metric_window_s", "step_weight / step_weights", "threshold")


def _fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {raw!r}")
    return value


def _non_negative(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {raw!r}")
    return value


def _count(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 2, got {raw!r}")
    return int(raw)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m rehearsal power",
        description="Monte Carlo of Flagger's decision for the Canary in dist/: P(promote) "
        "against the canary's true error rate and latency shift, false rollbacks of a "
        "healthy release, the time to a rollback, the smallest fault detected 90 %% of "
        "the time.",
        epilog="Exit status: 0 answered, 1 --check failed, 2 bad input.",
    )
    p.add_argument("--dist", type=Path, default=Path("dist"), metavar="DIR")
    p.add_argument("--canary", help="Canary name when dist/ holds several")
    p.add_argument(
        "--values", type=Path, metavar="FILE", help="synthesize the Canary from this values file"
    )
    p.add_argument("--rps", type=_non_negative, default=0.0, help="real users' requests/s (0)")
    p.add_argument("--load-rps", type=_non_negative, help="load test requests/s (its hey -q x -c)")
    p.add_argument("--releases", type=_count, default=4000, help="releases per point (%(default)s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--points", type=_count, default=41, help="points per curve (%(default)s)")
    p.add_argument("--max-error-rate", type=_fraction, default=0.2, metavar="FRACTION")
    p.add_argument("--max-shift-ms", type=_non_negative, default=1000.0)
    p.add_argument(
        "--healthy-error-rate",
        type=_fraction,
        metavar="FRACTION",
        help="a healthy canary's error rate (default: a tenth of the tightest error gate)",
    )
    p.add_argument("--bad-factor", type=_non_negative, default=5.0, help="x the error gate (5)")
    p.add_argument("--latency-median-ms", type=_non_negative, default=Latency().median_ms)
    p.add_argument("--latency-p99-ms", type=_non_negative, default=Latency().p99_ms)
    p.add_argument(
        "--latency-from",
        type=Path,
        metavar="METRICS",
        help="order-api's /api/metrics text scraped under load: its latency histogram "
        "replaces the stated lognormal",
    )
    p.add_argument("--arrivals", choices=[a.value for a in Arrivals], default=Arrivals.CONSTANT)
    p.add_argument(
        "--errors", choices=[e.value for e in ErrorProcess], default=ErrorProcess.BINOMIAL
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON document")
    out.add_argument("--headline", action="store_true", help="print the two headline figures")
    out.add_argument("--bench", action="store_true", help="print simulated releases per second")
    p.add_argument("--chart", type=Path, metavar="PNG", help="write the curves as a PNG")
    p.add_argument("--check", action="store_true", help="exit 1 when a bound is exceeded")
    p.add_argument("--max-false-rollback", type=_fraction, default=0.01, metavar="FRACTION")
    p.add_argument("--max-promote-bad", type=_fraction, default=0.01, metavar="FRACTION")
    return p.parse_args(argv)


def _load_plan(args: argparse.Namespace) -> Plan:
    if args.values is None:
        return plan_from_canary(load_canary(args.dist, name=args.canary), load_rps=args.load_rps)
    if not args.values.is_file():
        raise SpecError(f"{args.values}: no such values file")
    with tempfile.TemporaryDirectory(prefix="power-") as scratch:
        done = subprocess.run(
            [sys.executable, "-m", "synth.main", "--values", str(args.values), "--output", scratch],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SpecError(f"{args.values}: synth refused it: {done.stderr.strip()}")
        canary = load_canary(Path(scratch), name=args.canary)
        return plan_from_canary(canary, load_rps=args.load_rps)


def _describe(plan: Plan, traffic: Traffic) -> str:
    weights = ", ".join(str(w) for w in plan.weights)
    lat = traffic.latency
    latency = (
        "measured latency"
        if lat.measured is not None
        else f"latency median {lat.median_ms:g} ms, p99 {lat.p99_ms:g} ms"
    )
    return (
        f"Canary {plan.name}: interval {plan.interval_s}s, threshold {plan.threshold}, "
        f"weights {weights} %; load {plan.load_rps:g} rps + users {traffic.users_rps:g} rps; "
        f"{latency}"
    )


def _pct(value: float | None) -> str:
    return "none in range" if value is None else f"{value * 100:.2f} %"


def headline_lines(s: Summary, plan: Plan) -> list[str]:
    bad_factor = s.bad_error_rate / plan.error_budget
    shift = "none in range" if s.detected_shift_ms is None else f"+{s.detected_shift_ms:.0f} ms"
    return [
        f"power: P(false rollback of a healthy release, {s.healthy_error_rate * 100:.3g} % "
        f"errors) = {s.p_false_rollback * 100:.2f} % (of {s.releases} simulated releases)",
        f"power: P(promote | {s.bad_error_rate * 100:.3g} % errors, {bad_factor:g} x the error "
        f"gate) = {s.p_promote_bad * 100:.2f} %",
        f"power: detected with 90 % probability: error rate {_pct(s.detected_error_rate)}, "
        f"p99 shift {shift}; healthy release takes {s.healthy_release_s / 60:g} min",
    ]


def table_lines(s: Summary, plan: Plan, traffic: Traffic) -> list[str]:
    lines = [_describe(plan, traffic), "", "  error rate  P(promote)  median verdict"]
    lines += [
        f"  {p.x * 100:9.2f} %  {p.p_promote:10.3f}  {p.median_verdict_s / 60:9.1f} min"
        for p in s.error_curve
    ]
    lines += ["", "  p99 shift   P(promote)  median verdict"]
    lines += [
        f"  {p.x:7.0f} ms  {p.p_promote:10.3f}  {p.median_verdict_s / 60:9.1f} min"
        for p in s.latency_curve
    ]
    r = s.rollback_s
    lines += [
        "",
        f"  time to a rollback at {s.bad_error_rate * 100:.3g} % errors: p10 {r['p10'] / 60:g}, "
        f"p50 {r['p50'] / 60:g}, p90 {r['p90'] / 60:g} min",
        *("  " + line.removeprefix("power: ") for line in headline_lines(s, plan)),
    ]
    return lines


def _settings(plan: Plan, names: Sequence[str]) -> str:
    """The settings to change, each with the value this Canary has now."""
    windows = sorted({g.window_s for g in plan.gates})
    now = {
        "load_rps": f"{plan.load_rps:g}",
        "metric_window_s": "/".join(str(w) for w in windows),
        "interval_s": str(plan.interval_s),
        "threshold": str(plan.threshold),
        "step_weight / step_weights": ", ".join(str(w) for w in plan.weights),
    }
    return ", ".join(f"canary.{name} (now {now[name]})" for name in names)


def violations(s: Summary, plan: Plan, args: argparse.Namespace) -> list[str]:
    found = []
    if s.p_false_rollback > args.max_false_rollback:
        found.append(
            f"a healthy release ({s.healthy_error_rate * 100:.3g} % errors) is rolled back with "
            f"P = {s.p_false_rollback * 100:.2f} % > {args.max_false_rollback * 100:g} %: "
            f"more requests per window or a higher threshold; change "
            f"{_settings(plan, NOISE_SETTINGS)}"
        )
    if s.p_promote_bad > args.max_promote_bad:
        found.append(
            f"a canary failing {s.bad_error_rate * 100:.3g} % of orders is promoted with "
            f"P = {s.p_promote_bad * 100:.2f} % > {args.max_promote_bad * 100:g} %: more requests "
            f"per check at the first weights or a lower threshold; change "
            f"{_settings(plan, POWER_SETTINGS)}"
        )
    return found


def _json_safe(value: Any) -> Any:
    """NaN (no rollback to time, say) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    plan = _load_plan(args)
    traffic = Traffic(
        users_rps=args.rps,
        load_arrivals=Arrivals(args.arrivals),
        errors=ErrorProcess(args.errors),
        latency=Latency(
            median_ms=args.latency_median_ms,
            p99_ms=args.latency_p99_ms,
            measured=None if args.latency_from is None else read_histogram(args.latency_from),
        ),
    )
    if not 0 < traffic.latency.median_ms < traffic.latency.p99_ms:
        raise SpecError("--latency-median-ms must be above 0 and below --latency-p99-ms")
    study = Study(plan=plan, traffic=traffic, releases=args.releases, seed=args.seed)
    if args.bench:
        wall, cpu = benchmark(study, Truth(error_rate=plan.error_budget))
        print(
            f"power: {wall:,.0f} simulated releases per second, {cpu:,.0f} per CPU second "
            f"({args.releases} releases a run, the best of 3)"
        )
        return EXIT_OK
    healthy = (
        args.healthy_error_rate
        if args.healthy_error_rate is not None
        else plan.error_budget * HEALTHY_BUDGET_SHARE
    )
    summary = summarize(
        study,
        healthy_error_rate=healthy,
        bad_factor=args.bad_factor,
        max_error_rate=args.max_error_rate,
        max_shift_ms=args.max_shift_ms,
        points=0 if args.headline and args.chart is None else args.points,
    )
    if args.json:
        doc = {"canary": _describe(plan, traffic), "seed": args.seed, **summary.as_json()}
        print(json.dumps(_json_safe(doc), sort_keys=True))
    elif args.headline:
        print("\n".join(headline_lines(summary, plan)))
    else:
        print("\n".join(table_lines(summary, plan, traffic)))
    if args.chart is not None:
        # matplotlib only for a chart: make synth's headline runs without it.
        from rehearsal.power.power_chart import write_chart

        write_chart(summary, _describe(plan, traffic), args.chart)
        print(f"power: wrote {args.chart}", file=sys.stderr)
    problems = violations(summary, plan, args) if args.check else []
    for problem in problems:
        print(f"power: check failed: {problem}", file=sys.stderr)
    return EXIT_OUT_OF_BOUNDS if problems else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except SpecError as exc:
        print(f"power: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"power: cannot write {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
    return EXIT_BAD_INPUT
