"""`python -m rehearsal` (`make rehearse ARGS="..."`): would this release be promoted?

Exit status: 0 promoted, 1 rolled back, 2 could not run (the message says
what is missing and how to get it), 130 interrupted. Every process the
rehearsal starts and its temporary directory are gone when it exits.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rehearsal import report
from rehearsal.canary_spec import (
    PRE_ROLLOUT,
    ROLLOUT,
    Canary,
    SpecError,
    ingress_host,
    load_canary,
    parse_hey_load,
)
from rehearsal.checks import CONTRACT_ORDER
from rehearsal.components import ComponentError, ProcessGroup
from rehearsal.durations import human, prometheus_duration
from rehearsal.local_stack import Stack, Track
from rehearsal.run import Options, Outcome, check_speed, rehearse
from rehearsal.scenarios import SCENARIOS
from stack.config import ConfigError, StackConfig, load_config

EXIT_PROMOTED, EXIT_ROLLED_BACK, EXIT_CANNOT_RUN, EXIT_INTERRUPTED = 0, 1, 2, 130
# Speed 10 runs the default Canary (interval 60s, stepWeight 10, maxWeight 50:
# 9 ticks, 9 simulated minutes) in 54 s, plus a few seconds of start-up.
DEFAULT_SPEED = 10.0
# Enough canary requests per window at 10 % weight for a 1 % threshold to mean
# something, yet light for a laptop.
DEFAULT_RATE = 50.0
DEFAULT_SCRAPE_INTERVAL_S = 0.5


class Interrupted(Exception):
    """SIGINT or SIGTERM: stop everything and leave."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
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
        help="divide the analysis interval and metric windows by this (%(default)g)",
    )
    parser.add_argument(
        "--rate", type=_positive, default=DEFAULT_RATE, help="orders per second (%(default)g)"
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
    return parser.parse_args(argv)


def build_options(args: argparse.Namespace, canary: Canary, config: StackConfig) -> Options:
    scenario = SCENARIOS[args.scenario]
    primary_version = args.primary_version or config.app.image_tag
    load_hook = next(
        (parse_hey_load(h.metadata.get("cmd", "")) for h in canary.webhooks_of(ROLLOUT)), None
    )
    host = (
        ingress_host(args.dist, canary)
        or (load_hook.host if load_hook else None)
        or config.ingress.host
    )
    return Options(
        dist=args.dist,
        speed=args.speed,
        rate=args.rate,
        scrape_interval_s=args.scrape_interval,
        primary=Track(version=primary_version),
        canary=Track(
            version=args.canary_version or f"{primary_version}-canary",
            env={**scenario.canary_env, **dict(args.canary_env)},
        ),
        host=host,
        load_body=(load_hook.body if load_hook and load_hook.body else CONTRACT_ORDER),
        load_path=(load_hook.path if load_hook else "/api/order"),
    )


def describe(canary: Canary, options: Options, scenario: str) -> list[str]:
    a = canary
    lines = [
        f"Canary {a.namespace}/{a.name} from {a.source}: interval {a.interval}, "
        f"threshold {a.threshold}, stepWeight {a.step_weight or list(a.step_weights)}, "
        f"maxWeight {a.max_weight}",
        f"speed {options.speed:g}: interval {a.interval} -> {human(a.interval_s / options.speed)}",
        f"scenario {scenario}: primary {options.primary.version}, canary "
        f"{options.canary.version} {dict(options.canary.env) or ''}".rstrip(),
    ]
    for m in a.metrics:
        source = f"MetricTemplate {m.template.name}" if m.template else "Flagger built-in (Traefik)"
        window = prometheus_duration(m.interval_s / options.speed)
        lines.append(f"metric {m.name}: {source}, window {m.interval} -> {window}")
    for hook in a.webhooks_of(PRE_ROLLOUT):
        check = hook.http_check()
        what = f"{check.method} {check.url} must answer {check.expect_status}" if check else ""
        lines.append(f"pre-rollout webhook {hook.name!r}: {what or 'contract order check'}")
    for hook in a.webhooks_of(ROLLOUT):
        lines.append(
            f"rollout webhook {hook.name!r}: played by the load generator, "
            f"{options.rate:g} orders/s through Traefik with Host {options.host}"
        )
    skipped = [w for w in a.webhooks if (w.type or ROLLOUT) not in (PRE_ROLLOUT, ROLLOUT)]
    for hook in skipped:
        lines.append(f"{hook.type} webhook {hook.name!r}: not rehearsed (gate taken as open)")
    return lines


def summary(outcome: Outcome) -> str:
    verdict = "PROMOTED" if outcome.promoted else "ROLLED BACK"
    o = outcome.options
    return (
        f"verdict: {verdict} (phase {outcome.phase}) after {len(outcome.ticks)} ticks, "
        f"canary weight peaked at {outcome.max_canary_weight}% | simulated "
        f"{human(outcome.simulated_s)} (interval {outcome.canary.interval}) in "
        f"{human(outcome.real_s)} real at speed {o.speed:g} (+{human(outcome.startup_s)} "
        f"start-up) | load: {outcome.load_total.sent} orders, {outcome.load_total.failed} "
        f"failed, by version {outcome.load_total.by_version}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _rehearse(args)
    except Interrupted as exc:
        print(f"rehearsal: interrupted by {exc}; every process stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _rehearse(args: argparse.Namespace) -> int:
    try:
        config = load_config()
        canary = load_canary(args.dist, name=args.canary)
        check_speed(canary, args.speed, args.scrape_interval)
        options = build_options(args, canary, config)
    except (SpecError, ConfigError, ValueError) as exc:
        print(f"rehearsal: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    for line in describe(canary, options, args.scenario):
        print(line, flush=True)

    def write_report(outcome: Outcome, stack: Stack) -> None:
        if args.report is None:
            return
        try:
            paths = report.write(args.report, outcome, stack.prometheus)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ComponentError(f"cannot write the report to {args.report}: {exc}") from None
        print(f"report: {', '.join(str(p) for p in paths)}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="rehearsal-"))
    group = ProcessGroup(workdir / "logs")
    try:
        outcome = rehearse(
            canary=canary,
            config=config,
            options=options,
            group=group,
            workdir=workdir,
            out=lambda line: print(line, flush=True),
            before_teardown=write_report,
        )
    except (ComponentError, OSError, SpecError) as exc:
        print(f"rehearsal: could not run: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        # A second Ctrl-C must not leave processes or files behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        group.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    print(summary(outcome), flush=True)
    return EXIT_PROMOTED if outcome.promoted else EXIT_ROLLED_BACK


if __name__ == "__main__":
    sys.exit(main())
