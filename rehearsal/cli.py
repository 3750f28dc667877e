"""`python -m rehearsal` (`make rehearse ARGS="..."`): would this release be promoted?

Exit status: 0 promoted, 1 rolled back (also a canary that never boots),
2 could not run (the message names the component, port or path), 130
interrupted (SIGINT, SIGTERM or SIGHUP). Every process the rehearsal starts and
its temporary directory are gone when it exits; the children of a rehearsal
killed with SIGKILL die with it and its folder is removed by the next run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from order_api import telemetry
from rehearsal import report
from rehearsal.canary_spec import PRE_ROLLOUT, ROLLOUT, Canary, SpecError, ingress_host, load_canary
from rehearsal.checks import CONTRACT_ORDER
from rehearsal.console import YELLOW, Console, tick_printer
from rehearsal.durations import human, prometheus_duration
from rehearsal.junit import write_junit
from rehearsal.loadtester import DEFAULT_MAX_RATE, plan
from rehearsal.local_stack import CanaryDidNotBoot, Stack, Track
from rehearsal.processes import ComponentError, ProcessGroup
from rehearsal.run import Options, Outcome, check_speed, rehearse
from rehearsal.scenarios import SCENARIOS
from rehearsal.verdict import (
    EXIT_CANNOT_RUN,
    EXIT_INTERRUPTED,
    verdict_json,
    verdict_lines,
    verdict_of,
)
from rehearsal.workdir import clean_stale, make_workdir
from stack.config import ConfigError, StackConfig, load_config

# Speed 10 runs the default Canary (interval 60s, stepWeight 10, maxWeight 50:
# 9 ticks, 9 simulated minutes) in 54 s, plus a few seconds of start-up.
DEFAULT_SPEED = 10.0
DEFAULT_SCRAPE_INTERVAL_S = 0.5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """SIGINT, SIGTERM or SIGHUP: stop everything and leave."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Only the first signal interrupts: teardown (and a partial report) must finish.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
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
        choices=("model", "flagger"),
        default="model",
        help="model: this package's loop of Flagger on local processes (fast, no toolchain); "
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


def build_options(args: argparse.Namespace, canary: Canary, config: StackConfig) -> Options:
    scenario = SCENARIOS[args.scenario]
    primary_version = args.primary_version or config.app.image_tag
    load = next((h.hey() for h in canary.load_hooks()), None)
    host = ingress_host(args.dist, canary) or (load.host if load else None) or config.ingress.host
    return Options(
        dist=args.dist,
        speed=args.speed,
        rate=args.rate,
        scrape_interval_s=args.scrape_interval,
        primary=Track(version=primary_version),
        canary=Track(
            version=args.canary_version or f"{primary_version}-canary",
            env={**scenario.canary_env(canary), **dict(args.canary_env)},
        ),
        host=host,
        probe_body=(load.body if load and load.body else CONTRACT_ORDER),
        probe_path=(load.path if load else telemetry.ORDER_PATH),
    )


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


def _hook_text(hook: object, options: Options) -> str:
    from rehearsal.canary_spec import Webhook

    assert isinstance(hook, Webhook)
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
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        return _rehearse(args)
    except Interrupted as exc:
        # Interrupted before the analysis could start: nothing to report.
        print(f"rehearsal: interrupted by {exc}; every process stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _rehearse(args: argparse.Namespace) -> int:
    if args.engine == "flagger":
        from rehearsal.cli_flagger import rehearse_flagger

        return rehearse_flagger(args)
    if args.values is not None:
        print("rehearsal: --values needs --engine flagger", file=sys.stderr)
        return EXIT_CANNOT_RUN
    console = Console(sys.stderr if args.json else sys.stdout)
    try:
        config = load_config()
        canary = load_canary(args.dist, name=args.canary)
        check_speed(canary, args.speed, args.scrape_interval)
        options = build_options(args, canary, config)
        check_writable(args)
    except (SpecError, ConfigError, ValueError) as exc:
        print(f"rehearsal: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    for line in describe(canary, options, args.scenario):
        console.print(line)
    for folder in clean_stale():
        console.print(f"removed the folder of a rehearsal that died: {folder}")
    expected = SCENARIOS[args.scenario].expect if not args.canary_env else None
    outcome = Outcome(canary=canary, options=options)

    def write_report(done: Outcome, stack: Stack) -> None:
        if args.report is None:
            return
        if not done.verdict_at:
            done.verdict_at = time.time()  # a partial run ends now
        try:
            paths = report.write(args.report, done, stack.prometheus)
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"rehearsal: cannot write the report to {args.report}: {exc}", file=sys.stderr)
            return
        console.print(f"report: {', '.join(str(p) for p in paths)}")

    try:
        workdir = make_workdir()
    except OSError as exc:
        print(
            f"rehearsal: could not run: cannot create a folder in {tempfile.gettempdir()}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_CANNOT_RUN
    group = ProcessGroup(workdir / "logs")
    try:
        rehearse(
            canary=canary,
            options=options,
            group=group,
            workdir=workdir,
            out=tick_printer(console, canary),
            announce=console.print,
            outcome=outcome,
            before_teardown=write_report,
        )
    except CanaryDidNotBoot as exc:
        outcome.boot_failure = str(exc).splitlines()[0]
        console.print(f"rehearsal: {exc}")
    except Interrupted as exc:
        outcome.interrupted = outcome.interrupted or f"interrupted by {exc}"
        print(f"rehearsal: interrupted by {exc}; every process stopped", file=sys.stderr)
    except (ComponentError, OSError, SpecError) as exc:
        print(f"rehearsal: could not run: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        # A second signal must not leave processes or files behind.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        group.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
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
