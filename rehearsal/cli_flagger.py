"""`python -m rehearsal --engine flagger`: the command line around rehearsal.flagger_engine.

Same output as the model engine (a block per tick, the verdict block,
--json, --junit, --report) and the same exit codes: 0 promoted, 1 rolled
back, 2 could not run, 130 interrupted. On Ctrl-C the rehearsal stops
watching; the cluster keeps the release and Flagger finishes its analysis.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

import yaml

from rehearsal import report
from rehearsal.canary_spec import Canary, SpecError, load_canary
from rehearsal.cli import STOP_SIGNALS, Interrupted, check_writable, describe, finish
from rehearsal.console import Console, tick_printer
from rehearsal.flagger_engine import EngineError, FlaggerRun, rehearse_on_flagger
from rehearsal.netns_threads import NetnsError
from rehearsal.processes import ComponentError
from rehearsal.prometheus import PrometheusAPI
from rehearsal.run import Options, Outcome, TickRecord
from rehearsal.scenarios import SCENARIOS
from rehearsal.verdict import EXIT_CANNOT_RUN, EXIT_INTERRUPTED
from stack.config import ConfigError


def _extra_values(args: argparse.Namespace) -> dict[str, Any]:
    if args.values is None:
        return {}
    try:
        data = yaml.safe_load(args.values.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--values {args.values}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--values {args.values}: expected a mapping of settings")
    return data


def _refuse_model_flags(args: argparse.Namespace) -> None:
    """Flags that mean nothing to the real Flagger are refused, not ignored."""
    if args.rate is not None:
        raise ValueError("--rate is the model engine's: Flagger runs the Canary's own hey")
    if args.primary_version:
        raise ValueError("--primary-version: on Flagger the primary is what the cluster runs")


def rehearse_flagger(args: argparse.Namespace) -> int:
    console = Console(sys.stderr if args.json else sys.stdout)
    scenario = SCENARIOS[args.scenario]
    try:
        _refuse_model_flags(args)
        check_writable(args)
        # The scenario's faults follow the gates of the Canary in --dist (dist/).
        scenario_env = scenario.canary_env(load_canary(args.dist, name=args.canary))
        run = FlaggerRun(
            scenario=args.scenario,
            canary_env=dict(args.canary_env),
            canary_version=args.canary_version,
            extra_values=_extra_values(args),
        )
    except (SpecError, ConfigError, ValueError) as exc:
        print(f"rehearsal: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    expected = scenario.expect if not args.canary_env else None
    box: list[Outcome] = []

    def show(record: TickRecord) -> None:
        tick_printer(console, box[0].canary, sim_word="prod")(record)

    def said(canary: Canary, options: Options) -> None:
        for line in describe(canary, options, args.scenario):
            console.print(line)

    def write_report(done: Outcome, prometheus: PrometheusAPI) -> None:
        if args.report is None:
            return
        if not done.verdict_at:
            done.verdict_at = time.time()
        try:
            paths = report.write(args.report, done, prometheus)
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"rehearsal: cannot write the report to {args.report}: {exc}", file=sys.stderr)
            return
        console.print(f"report: {', '.join(str(p) for p in paths)}")

    try:
        rehearse_on_flagger(
            run,
            scenario_env=scenario_env,
            out=show,
            announce=console.print,
            outcome_box=box,
            before_teardown=write_report,
            describe=said,
        )
    except Interrupted as exc:
        if box:
            box[0].interrupted = box[0].interrupted or f"interrupted by {exc}"
        print(
            f"rehearsal: interrupted by {exc}; the release stays applied and Flagger "
            "finishes its analysis in the cluster",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except (EngineError, ComponentError, SpecError, ConfigError, NetnsError, OSError) as exc:
        print(f"rehearsal: could not run on Flagger: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    return finish(args, box[0], console, expected)
