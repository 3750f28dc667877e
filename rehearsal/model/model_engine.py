"""`--engine model` (the default): the fast approximation. Flagger's loop runs
here, tick by tick, against real order-api, Traefik and Prometheus processes on
loopback; every process and its folder are gone when it returns."""

from __future__ import annotations

import shutil
import tempfile

from order_api import telemetry
from rehearsal.failures import CannotRun, ComponentError, ignore_stop_signals
from rehearsal.model.analysis_loop import check_speed, rehearse
from rehearsal.model.child_processes import ProcessGroup
from rehearsal.model.workdir import clean_stale, make_workdir
from rehearsal.outcome import Ask, Listener, Options, Outcome, Track
from rehearsal.spec.canary_spec import Canary, SpecError, ingress_host, load_canary
from rehearsal.spec.scenarios import SCENARIOS
from rehearsal.spec.webhook_commands import CONTRACT_ORDER
from stack.config import ConfigError, StackConfig, load_config


def build_options(ask: Ask, canary: Canary, config: StackConfig) -> Options:
    scenario = SCENARIOS[ask.scenario]
    primary_version = ask.primary_version or config.app.image_tag
    load = next((h.hey() for h in canary.load_hooks()), None)
    host = ingress_host(ask.dist, canary) or (load.host if load else None) or config.ingress.host
    return Options(
        dist=ask.dist,
        speed=ask.speed,
        rate=ask.rate,
        scrape_interval_s=ask.scrape_interval_s,
        primary=Track(version=primary_version),
        canary=Track(
            version=ask.canary_version or f"{primary_version}-canary",
            env={**scenario.canary_env(canary), **dict(ask.canary_env)},
        ),
        host=host,
        probe_body=(load.body if load and load.body else CONTRACT_ORDER),
        probe_path=(load.path if load else telemetry.ORDER_PATH),
    )


class ModelEngine:
    name = "model"
    clock_word = "sim"
    left_behind = "every process stopped"

    def rehearse(self, ask: Ask, listener: Listener) -> Outcome:
        if ask.values is not None:
            raise CannotRun("--values needs --engine flagger")
        try:
            config = load_config()
            canary = load_canary(ask.dist, name=ask.canary_name)
            check_speed(canary, ask.speed, ask.scrape_interval_s)
            options = build_options(ask, canary, config)
            listener.check_outputs()
        except (SpecError, ConfigError, ValueError) as exc:
            raise CannotRun(str(exc)) from None
        listener.describe(canary, options)
        for folder in clean_stale():
            listener.announce(f"removed the folder of a rehearsal that died: {folder}")
        try:
            workdir = make_workdir()
        except OSError as exc:
            raise CannotRun(
                f"could not run: cannot create a folder in {tempfile.gettempdir()}: "
                f"{exc.strerror or exc}"
            ) from None
        group = ProcessGroup(workdir / "logs")
        try:
            return rehearse(
                canary=canary,
                options=options,
                group=group,
                workdir=workdir,
                out=listener.out,
                announce=listener.announce,
                before_teardown=listener.report,
            )
        except (ComponentError, OSError, SpecError) as exc:
            raise CannotRun(f"could not run: {exc}") from None
        finally:
            ignore_stop_signals()
            group.stop_all()
            shutil.rmtree(workdir, ignore_errors=True)
