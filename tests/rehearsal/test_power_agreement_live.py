"""The Monte Carlo agrees with the model engine (real order-api, Traefik, Prometheus).

Three points, the rehearsal's three scenarios on the `continuous` Canary
(tests/rehearsal/canaries.py) at speed 30 and 60 real orders/s (2 orders/s
in the Canary's time: 12 canary orders a window at weight 10). At each point
the Monte Carlo, fed the same Canary, rate and fault, predicts the verdict and
the tick it comes on with probability >= 0.99; each point runs the model
engine RUNS_PER_POINT times. A run whose verdict (and, for a rollback, its
tick within TICK_TOLERANCE) the Monte Carlo gives less than 1 % fails the
test: agreement at 99 % confidence per run.
order-api spreads injected failures evenly, so the Monte Carlo runs with
`ErrorProcess.EVEN`. About 135 s on two shared cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from order_api.settings import ENV_FAULT_DELAY_MS, ENV_FAULT_ERROR_RATE
from rehearsal.power.monte_carlo import ErrorProcess, Traffic, Truth, simulate
from rehearsal.power.release_plan import plan_from_canary
from rehearsal.spec.canary_spec import load_canary
from rehearsal.spec.scenarios import SCENARIOS
from tests.rehearsal.canaries import variant
from tests.support.prerequisites import require_binary

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
SPEED, RATE = 30.0, 60.0
RUNS_PER_POINT = 3
RELEASES = 20000
MIN_LIKELIHOOD = 0.01
# A rollback may come one tick later than the Monte Carlo's. Seen in 5 of 12 runs of
# the errors scenario (three at once, load average ~17 on 2 cores): the first window
# at weight 10 read 100 % success and 0 % errors on a canary failing 20 % of orders.
# Its 5xx series were new: rate() ignores a series with fewer than two samples in the
# window, and reads increases between samples, not the one that created the series.
# The Monte Carlo does not model Prometheus' sampling; that window passes, the weight
# goes to 20 %, and the five failed checks come one tick later.
TICK_TOLERANCE = 1


def _truth(env: dict[str, str]) -> Truth:
    return Truth(
        error_rate=float(env.get(ENV_FAULT_ERROR_RATE, 0)),
        shift_ms=float(env.get(ENV_FAULT_DELAY_MS, 0)),
    )


def _model_runs(dist: Path, scenario: str) -> list[tuple[bool, int]]:
    argv = [
        sys.executable,
        "-m",
        "rehearsal",
        f"--dist={dist}",
        f"--scenario={scenario}",
        f"--speed={SPEED:g}",
        f"--rate={RATE:g}",
        "--json",
    ]
    procs = [
        subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(RUNS_PER_POINT)
    ]
    found = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode in (0, 1), err[-2000:]
        doc = json.loads(out.strip().splitlines()[-1])
        found.append((doc["verdict"] == "promoted", int(doc["ticks"])))
    return found


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_monte_carlo_agrees_with_the_model_engine(tmp_path: Path, scenario: str) -> None:
    require_binary("prometheus", "make toolchain")
    dist = variant(tmp_path, "continuous")
    canary = load_canary(dist)
    plan = plan_from_canary(canary, load_rps=RATE / SPEED)
    truth = _truth(SCENARIOS[scenario].canary_env(canary))
    mc = simulate(plan, truth, traffic=Traffic(errors=ErrorProcess.EVEN), releases=RELEASES, seed=1)
    runs = _model_runs(dist, scenario)
    for promoted, ticks in runs:
        verdict = float((mc.promoted == promoted).mean())
        near = np.abs(mc.decided_tick - ticks) <= TICK_TOLERANCE
        timed = float(((mc.promoted == promoted) & near).mean())
        print(
            f"power agreement {scenario}: model {'promoted' if promoted else 'rolled back'} "
            f"in {ticks} ticks; Monte Carlo P(verdict) = {verdict:.4f}, "
            f"P(verdict and ticks +-{TICK_TOLERANCE}) = {timed:.4f}"
        )
        assert verdict >= MIN_LIKELIHOOD, (scenario, promoted, verdict)
        if not promoted:
            # A promotion's ticks are not compared: one stalled request on a shared
            # machine fails a p99 gate of 12 orders and delays it by a tick.
            assert timed >= MIN_LIKELIHOOD, (scenario, ticks, timed)
