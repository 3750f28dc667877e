"""The Monte Carlo agrees with the real Flagger at one point (the errors scenario).

Run under `flock /tmp/order-api-sre-cluster.lock` (one cluster at a time). The
Monte Carlo reads the very release the Flagger engine applies (its time
settings keep production's orders per window) with the measuring client's
orders as users' traffic, and predicts a rollback with P >= 0.99; Flagger's
verdict must be the one the Monte Carlo gives at least 1 % (agreement at 99 %
confidence for one run; a few minutes on the cluster).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from order_api.settings import ENV_FAULT_ERROR_RATE
from rehearsal.oncluster.cluster_release import (
    faults_values,
    release_values,
    synthesize_release,
    time_settings,
)
from rehearsal.oncluster.flagger_engine import CLIENT_RATE
from rehearsal.power.monte_carlo import ErrorProcess, Traffic, Truth, simulate
from rehearsal.power.release_plan import plan_from_canary
from rehearsal.spec.canary_spec import load_canary
from rehearsal.spec.scenarios import SCENARIOS
from stack.config import load_config
from tests.support.prerequisites import require_cluster_prerequisites

pytestmark = [pytest.mark.live, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "errors"
MIN_LIKELIHOOD = 0.01


def test_monte_carlo_agrees_with_flagger(tmp_path: Path) -> None:
    require_cluster_prerequisites()
    release = tmp_path / "release"
    probe = load_canary(ROOT / "dist")
    env = SCENARIOS[SCENARIO].canary_env(probe)
    values = release_values(
        version="1.1.0", faults=faults_values(env), times=time_settings(load_config())
    )
    synthesize_release(values, release, env={})
    plan = plan_from_canary(load_canary(release))
    truth = Truth(error_rate=float(env.get(ENV_FAULT_ERROR_RATE, 0)))
    traffic = Traffic(users_rps=CLIENT_RATE, errors=ErrorProcess.EVEN)
    mc = simulate(plan, truth, traffic=traffic, releases=20000, seed=1)
    from cluster import lifecycle

    was_running = lifecycle.is_running()
    try:
        done = _run_flagger()
    finally:
        if not was_running:  # leave the machine as the test found it
            lifecycle.down(lambda line: print(line, file=sys.stderr))
    assert done.returncode in (0, 1), done.stderr[-3000:]
    promoted = json.loads(done.stdout.strip().splitlines()[-1])["verdict"] == "promoted"
    likelihood = float((mc.promoted == promoted).mean())
    print(f"power agreement flagger {SCENARIO}: promoted={promoted}; Monte Carlo P = {likelihood}")
    assert likelihood >= MIN_LIKELIHOOD


def _run_flagger() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "rehearsal",
            "--engine",
            "flagger",
            "--scenario",
            SCENARIO,
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
