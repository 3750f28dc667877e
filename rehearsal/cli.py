"""`python -m rehearsal` (`make rehearse ARGS="..."`): would this release be promoted?

Exit status: 0 promoted, 1 rolled back (also a canary that never boots),
2 could not run (the message names the component, port or path), 130
interrupted (SIGINT, SIGTERM or SIGHUP). Every process the rehearsal starts and
its temporary directory are gone when it exits; the children of a rehearsal
killed with SIGKILL die with it and its folder is removed by the next run.

One command line for both engines: `--engine` picks one through
rehearsal.engine.engine_for; this module prints what either one tells it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rehearsal.engine import ENGINES, Engine, engine_for
from rehearsal.failures import (
    STOP_SIGNALS,
    CannotRun,
    ComponentError,
    Interrupted,
    ignore_stop_signals,
)
from rehearsal.measure.prometheus_api import PrometheusAPI
from rehearsal.model.loadtester import DEFAULT_MAX_RATE, plan
from rehearsal.outcome import Ask, Listener, Options, Outcome, TickRecord
from rehearsal.report import report_files
from rehearsal.report.console import YELLOW, Console, tick_printer
from rehearsal.report.junit import write_junit
from rehearsal.report.verdict import (
    EXIT_CANNOT_RUN,
    EXIT_INTERRUPTED,
    verdict_json,
    verdict_lines,
    verdict_of,
)
from rehearsal.spec.canary_spec import PRE_ROLLOUT, ROLLOUT, Canary, Webhook
from rehearsal.spec.duration_text import human, prometheus_duration
from rehearsal.spec.scenarios import SCENARIOS

# Speed 10 runs the default Canary (interval 60s, stepWeight 10, maxWeight 50:
# 9 ticks, 9 simulated minutes) in 54 s, plus a few seconds of start-up.
DEFAULT_SPEED = 10.0
DEFAULT_SCRAPE_INTERVAL_S = 0.5
# The signal that interrupted this run (only the first one does).
_caught: list[str] = []


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Only the first signal interrupts: teardown (and a partial report) must finish.
    ignore_stop_signals()
    _caught.append(signal.Signals(signum).name)
    raise Interrupted(signal.Signals(signum).name)


def _key_value(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {raw!r}")
    return key, value


def _positive(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {raw!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rehearsal",
        description=(
            "Rehearse the canary release in dist/ on this machine: real order-api, "
            "Traefik and Prometheus, Flagger's analysis loop, and a verdict."
        ),
        epilog="Exit status: 0 promoted, 1 rolled back, 2 could not run, 130 interrupted.",
    )
    parser.add_argument(
        "--dist",
        type=Path,
        default=Path("dist"),
        metavar="DIR",
        help="folder of synthesized manifests (%(default)s)",
    )
    parser.add_argument("--canary", help="Canary name when dist/ holds several")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="model",
        help="model: this package's loop of Flagger on local processes (fast; needs only "
        "the toolchain's Prometheus: python -m toolchain build prometheus); "
        "flagger: the real Flagger on the local cluster (python -m cluster), minutes per "
        "scenario (%(default)s)",
    )
    parser.add_argument(
        "--values",
        type=Path,
        metavar="FILE",
        help="--engine flagger: extra settings for the synthesized release, nested like "
        "stack/config.py (e.g. canary: {step_weights: [10, 30, 50]})",
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="healthy",
        # argparse %-formats help strings: "20%" must be written "20%%".
        help="; ".join(f"{s.name}: {s.description}" for s in SCENARIOS.values()).replace("%", "%%"),
    )
    parser.add_argument(
        "--canary-env",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the canary (repeatable; wins over the scenario's)",
    )
    parser.add_argument(
        "--speed",
        type=_positive,
        default=DEFAULT_SPEED,
        help="divide the analysis interval, metric windows and load durations by this "
        "(%(default)g)",
    )
    parser.add_argument(
        "--rate",
        type=_positive,
        metavar="RPS",
        help="real requests/s of each load command (default: the hey command's -q x -c "
        f"per simulated second, at most {DEFAULT_MAX_RATE:g})",
    )
    parser.add_argument(
        "--scrape-interval",
        type=_positive,
        default=DEFAULT_SCRAPE_INTERVAL_S,
        metavar="SECONDS",
        help="local Prometheus scrape interval (%(default)g)",
    )
    parser.add_argument("--primary-version", help="primary's version (default: app.image_tag)")
    parser.add_argument("--canary-version", help="canary's version (default: <primary>-canary)")
    parser.add_argument("--report", type=Path, metavar="DIR", help="write report.json/.md + PNGs")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML for CI")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON verdict on stdout (progress goes to stderr)",
    )
    return parser.parse_args(argv)


def _env_text(env: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(env.items())) or "no faults"


def describe(canary: Canary, options: Options, scenario: str) -> list[str]:
    a, speed = canary, options.speed
    steps = f"{a.step_weight} %" if a.step_weight else ", ".join(f"{w} %" for w in a.step_weights)
    lines = [
        f"Canary {a.namespace}/{a.name} from {a.source}",
        f"  interval {a.interval} -> {human(a.interval_s / speed)} real at speed {speed:g}; "
        f"threshold {a.threshold} failed checks; step {steps}; max weight {a.max_weight} %",
        f"  scenario {scenario}: primary {options.primary.version}, canary "
        f"{options.canary.version} ({_env_text(dict(options.canary.env))})",
    ]
    for m in a.metrics:
        source = f"MetricTemplate {m.template.name}" if m.template else "Flagger built-in (Traefik)"
        window = prometheus_duration(m.interval_s / speed)
        gate = " and ".join(
            part
            for part in (
                f">= {m.min:g} {m.unit}".rstrip() if m.min is not None else "",
                f"<= {m.max:g} {m.unit}".rstrip() if m.max is not None else "",
            )
            if part
        )
        lines.append(f"  metric {m.name}: {gate}, {source}, window {m.interval} -> {window}")
    for kind in (PRE_ROLLOUT, ROLLOUT):
        for hook in a.webhooks_of(kind):
            lines.append(f"  {kind} webhook {hook.name}: {_hook_text(hook, options)}")
    if not a.load_hooks():
        lines.append("  no webhook carries a hey load command: no load will flow")
    skipped = [w for w in a.webhooks if (w.type or ROLLOUT) not in (PRE_ROLLOUT, ROLLOUT)]
    for hook in skipped:
        lines.append(f"  {hook.type} webhook {hook.name}: not rehearsed (gate taken as open)")
    return lines


def _hook_text(hook: Webhook, options: Options) -> str:
    hey = hook.hey()
    if hey is not None:
        p = plan(hey, speed=options.speed, rate=options.rate, max_rate=DEFAULT_MAX_RATE)
        rate_text = f"{p.rate:g} req/s real ({p.workers} workers)"
        span = (
            f"for -z {human(hey.duration_s)} ({hey.duration_s / options.speed:.1f} s real)"
            if hey.duration_s is not None
            else f"{hey.requests} requests"
        )
        return f"hey load {rate_text} {span} through Traefik (Host {hey.host or options.host})"
    check = hook.http_check()
    if check is not None:
        return f"{check.method} {check.url} must answer {check.expect_status}"
    return "contract order check" if (hook.type or ROLLOUT) == PRE_ROLLOUT else "not rehearsed"


def check_writable(args: argparse.Namespace) -> None:
    """Refuse an output location before the run, not after it."""
    targets = []
    if args.report is not None:
        targets.append(("--report", args.report, args.report))
    if args.junit is not None:
        targets.append(("--junit", args.junit, args.junit.parent))
    for flag, given, folder in targets:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".rehearsal-probe-"):
                pass
        except OSError as exc:
            raise ValueError(f"{flag} {given}: cannot write there: {exc.strerror or exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["power"]:  # the Monte Carlo of the Canary's gates (rehearsal/power)
        from rehearsal.power.power_cli import main as power_main

        return power_main(argv[1:])
    args = parse_args(argv)
    _caught.clear()
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        return _rehearse(args, engine_for(args.engine))
    except Interrupted as exc:
        # Interrupted before an engine was chosen: nothing to report.
        print(f"rehearsal: interrupted by {exc}; every process stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def ask_of(args: argparse.Namespace) -> Ask:
    return Ask(
        dist=args.dist,
        canary_name=args.canary,
        scenario=args.scenario,
        canary_env=dict(args.canary_env),
        speed=args.speed,
        rate=args.rate,
        scrape_interval_s=args.scrape_interval,
        primary_version=args.primary_version,
        canary_version=args.canary_version,
        values=args.values,
    )


def listener_for(args: argparse.Namespace, console: Console, clock_word: str) -> Listener:
    """The console lines and the report, whichever engine runs."""
    shown: list[Canary] = []  # the Canary, once the engine has read it

    def said(canary: Canary, options: Options) -> None:
        shown.append(canary)
        for line in describe(canary, options, args.scenario):
            console.print(line)

    def show(record: TickRecord) -> None:
        tick_printer(console, shown[-1], sim_word=clock_word)(record)

    def write_report(done: Outcome, prometheus: PrometheusAPI) -> None:
        if args.report is None:
            return
        if not done.verdict_at:
            done.verdict_at = time.time()  # a partial run ends now
        try:
            paths = report_files.write(args.report, done, prometheus)
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"rehearsal: cannot write the report to {args.report}: {exc}", file=sys.stderr)
            return
        console.print(f"report: {', '.join(str(p) for p in paths)}")

    return Listener(
        check_outputs=lambda: check_writable(args),
        describe=said,
        announce=console.print,
        out=show,
        report=write_report,
    )


def _rehearse(args: argparse.Namespace, engine: Engine) -> int:
    console = Console(sys.stderr if args.json else sys.stdout)
    expected = SCENARIOS[args.scenario].expect if not args.canary_env else None
    try:
        outcome = engine.rehearse(ask_of(args), listener_for(args, console, engine.clock_word))
    except Interrupted as exc:
        print(f"rehearsal: interrupted by {exc}; {engine.left_behind}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CannotRun as exc:
        print(f"rehearsal: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        ignore_stop_signals()
    if outcome.interrupted:
        signal_name = _caught[0] if _caught else "a signal"
        print(f"rehearsal: interrupted by {signal_name}; {engine.left_behind}", file=sys.stderr)
    return finish(args, outcome, console, expected)


def finish(
    args: argparse.Namespace, outcome: Outcome, console: Console, expected: str | None
) -> int:
    verdict = verdict_of(outcome)
    if args.junit is not None and not outcome.interrupted:
        try:
            write_junit(args.junit, outcome, expected=expected)
        except ComponentError as exc:
            print(f"rehearsal: {exc}", file=sys.stderr)
            return EXIT_CANNOT_RUN
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    console.print()
    lines = verdict_lines(outcome, scenario=args.scenario, expected=expected)
    for line in lines:
        console.print(line, colour=YELLOW if line == "verdict" else "")
    if outcome.load_total.skipped:
        console.print(
            f"warning: the load fell short of its rate ({outcome.load_total.skipped} throttle "
            "slots skipped): the machine could not keep up; lower --rate or --speed"
        )
    if args.json:
        doc = verdict_json(outcome, scenario=args.scenario, expected=expected)
        print(json.dumps(doc, sort_keys=True), flush=True)
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
