"""The Monte Carlo of Flagger's decision (rehearsal/power): fast, seeded, no process."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from rehearsal.power import power_cli
from rehearsal.power.measured_latency import histogram_cdf, read_histogram
from rehearsal.power.monte_carlo import (
    ErrorProcess,
    Latency,
    Simulator,
    Traffic,
    Truth,
    simulate,
)
from rehearsal.power.quantile import histogram_quantile
from rehearsal.power.release_plan import Gate, GateKind, Plan, plan_from_canary, weight_steps
from rehearsal.spec.canary_spec import load_canary
from stack.config import TRAEFIK_LATENCY_BUCKETS, load_config
from tests.support.prerequisites import require_binary

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
SUCCESS = Gate(name="success", kind=GateKind.SUCCESS, window_s=60, min=99.0, max=None)
P99 = Gate(
    name="p99",
    kind=GateKind.LATENCY,
    window_s=60,
    min=None,
    max=500.0,
    buckets=TRAEFIK_LATENCY_BUCKETS,
    truncate=True,
)


def plan(**changes: object) -> Plan:
    fields: dict[str, object] = {
        "name": "t",
        "interval_s": 60,
        "threshold": 5,
        "weights": (10, 20, 30, 40, 50),
        "gates": (SUCCESS, P99),
        "load_rps": 10.0,
        "acceptance_checks": 1,
        **changes,
    }
    return Plan(**fields)  # type: ignore[arg-type]


# --- the plan read from dist/ ------------------------------------------------------


def test_plan_of_the_default_canary_follows_the_config() -> None:
    config = load_config(env={})
    p = plan_from_canary(load_canary(DIST))
    assert p.weights == config.canary.weights
    assert (p.interval_s, p.threshold) == (config.canary.interval_s, config.canary.threshold)
    assert p.load_rps == config.canary.load_rps
    kinds = sorted(g.kind for g in p.gates)
    assert kinds == ["errors", "latency", "latency", "success"]
    assert p.error_budget == pytest.approx(config.canary.error_rate_max_percent / 100)


@pytest.mark.parametrize(
    ("analysis", "weights"),
    [
        ({"stepWeight": 10, "maxWeight": 50}, (10, 20, 30, 40, 50)),
        # Flagger caps a step at 100, not at maxWeight (scheduler.go, v1.44.0).
        ({"stepWeight": 30, "maxWeight": 50}, (30, 60)),
        ({"stepWeights": [5, 10, 25, 50]}, (5, 10, 25, 50)),
    ],
)
def test_weight_steps_follow_flaggers_rules(
    tmp_path: Path, analysis: dict[str, object], weights: tuple[int, ...]
) -> None:
    out = tmp_path / "dist"
    shutil.copytree(DIST, out)
    for path in out.glob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Canary":
                a = doc["spec"]["analysis"]
                a.pop("stepWeight", None)
                a.pop("maxWeight", None)
                a.update(analysis)
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert weight_steps(load_canary(out)) == weights


# --- histogram_quantile --------------------------------------------------------------


def test_histogram_quantile_follows_prometheus_rule() -> None:
    bounds = (0.05, 0.1, 0.25, 0.5, 1.0)
    rows = [
        [10, 50, 90, 99, 100, 100],  # rank 99 reached exactly at 0.5: the bucket's top
        [100, 100, 100, 100, 100, 100],  # first bucket: interpolated from 0
        [0, 0, 0, 0, 0, 100],  # every observation above 1 s: the largest finite bound
        [0, 0, 0, 0, 0, 0],  # no observation: NaN
        [0, 0, 50, 90, 98, 100],  # rank 99 in (1, +Inf]: 1
        [0, 0, 0, 40, 100, 100],  # rank 99 in (0.5, 1]: 0.5 + 0.5 * 59/60
    ]
    got = histogram_quantile(0.99, bounds, rows)
    want = [0.5, 0.0495, 1.0, math.nan, 1.0, 0.5 + 0.5 * 59 / 60]
    np.testing.assert_allclose(got, want, equal_nan=True)


@pytest.mark.live
def test_histogram_quantile_equals_promtool(tmp_path: Path) -> None:
    """The real Prometheus engine (promtool test rules) agrees on a known histogram."""
    promtool = require_binary("promtool", "make toolchain")
    bounds = TRAEFIK_LATENCY_BUCKETS
    cumulative = [3, 20, 41, 97, 99, 100, 100, 101]
    want = float(histogram_quantile(0.99, bounds, [cumulative])[0])
    les = [*(f"{b:g}" for b in bounds), "+Inf"]
    series = "\n".join(
        f"      - series: 'h_bucket{{le=\"{le}\"}}'\n        values: '{n}x2'"
        for le, n in zip(les, cumulative, strict=True)
    )
    (tmp_path / "rules.yml").write_text("groups: []\n")
    (tmp_path / "test.yml").write_text(
        textwrap.dedent(
            """\
            rule_files: [rules.yml]
            evaluation_interval: 1m
            fuzzy_compare: true
            tests:
              - interval: 1m
                input_series:
            {series}
                promql_expr_test:
                  - expr: histogram_quantile(0.99, h_bucket)
                    eval_time: 1m
                    exp_samples:
                      - labels: '{{}}'
                        value: {want!r}
            """
        ).format(series=series, want=want)
    )
    done = subprocess.run(
        [promtool, "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- gates -------------------------------------------------------------------------------


def test_gates_use_flaggers_comparisons() -> None:
    sim = Simulator(plan(gates=(SUCCESS,)), Traffic())
    n = np.array([100, 100, 0])
    e = np.array([1, 2, 0])
    hist = np.zeros((3, 1), dtype=np.int64)
    # 99 % passes a 99 % minimum, 98 % fails, an empty window fails.
    assert sim.gate_passes(SUCCESS, n, e, hist).tolist() == [True, False, False]


def test_request_duration_is_truncated_to_whole_ms() -> None:
    sim = Simulator(plan(gates=(P99,)), Traffic())
    edges = sim.edges.tolist()
    assert edges == list(TRAEFIK_LATENCY_BUCKETS)
    # 99 of 100 in (0.25, 0.5] and one in (0.5, 1]: p99 at exactly 500 ms passes.
    hist = np.zeros((1, len(edges) + 1), dtype=np.int64)
    hist[0, edges.index(0.5)] = 99
    hist[0, edges.index(1.0)] = 1
    assert sim.gate_passes(P99, np.array([100]), np.array([0]), hist).tolist() == [True]
    hist[0, edges.index(0.5)], hist[0, edges.index(1.0)] = 98, 2
    assert sim.gate_passes(P99, np.array([100]), np.array([0]), hist).tolist() == [False]


# --- whole releases ------------------------------------------------------------------


def test_no_errors_and_full_traffic_is_always_promoted_on_time() -> None:
    out = simulate(plan(load_rps=200.0), Truth(), traffic=Traffic(), releases=500, seed=3)
    assert out.promoted.all()
    # Init, pre-rollout, 5 weights, the check at max weight, Promoting, Finalising.
    assert set(out.decided_tick.tolist()) == {1 + 1 + 5 + 2}


def test_an_empty_window_is_a_failed_check() -> None:
    """No traffic: the pre-rollout passes, then every window is empty and fails; the
    rollback comes on the tick after the threshold-th failure."""
    out = simulate(plan(load_rps=0.0), Truth(), traffic=Traffic(), releases=200, seed=3)
    assert not out.promoted.any()
    assert set(out.decided_tick.tolist()) == {1 + 1 + 5 + 1}


def test_a_passed_check_does_not_reset_the_failed_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flagger v1.44.0 only ever sets failedChecks + 1: pass, fail, pass, fail... with
    threshold 2 rolls back after the second failure, not never."""
    # The first answer is asked on tick 1 and ignored (Initialized runs no check).
    pattern = iter([True, True, True, False, True, False] + [True] * 20)
    monkeypatch.setattr(Simulator, "_checks", lambda *a, **k: np.array([next(pattern)]))
    out = simulate(plan(threshold=2), Truth(), traffic=Traffic(), releases=1, seed=1)
    # Ticks: 1 init, 2 pre-rollout, 3 pass, 4 fail, 5 pass, 6 fail, 7 rollback.
    assert (out.promoted.tolist(), out.decided_tick.tolist()) == ([False], [7])


def test_seeded_runs_repeat_and_differ_by_seed() -> None:
    p, t = plan(), Truth(error_rate=0.012)
    a = simulate(p, t, traffic=Traffic(), releases=400, seed=7)
    b = simulate(p, t, traffic=Traffic(), releases=400, seed=7)
    c = simulate(p, t, traffic=Traffic(), releases=400, seed=8)
    assert np.array_equal(a.decided_tick, b.decided_tick)
    assert not np.array_equal(a.decided_tick, c.decided_tick)


def test_promotion_falls_with_the_error_rate() -> None:
    p = [
        simulate(plan(), Truth(error_rate=r), traffic=Traffic(), releases=2000, seed=1).p_promote
        for r in (0.0, 0.01, 0.02, 0.05)
    ]
    assert p[0] == 1.0 and p[-1] == 0.0
    assert p[0] > p[1] > p[2] >= p[3]


def test_even_errors_decide_like_the_fault_injector() -> None:
    """Evenly spread failures (the rehearsal's injector) and 60 orders a window at
    weight 10: 1 % gives 0 or 1 failure (1/60 > 1 %), 5 % always 3: rolled back."""
    out = simulate(
        plan(),
        Truth(error_rate=0.05),
        traffic=Traffic(errors=ErrorProcess.EVEN),
        releases=200,
        seed=1,
    )
    assert not out.promoted.any()
    assert set(out.decided_tick.tolist()) == {8}


# --- the command -------------------------------------------------------------------------


def test_cli_json_answers_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    code = power_cli.main(["--json", "--releases", "200", "--points", "3"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["p_false_rollback"] <= 0.01 and doc["p_promote_bad"] <= 0.01
    assert len(doc["error_curve"]) == 3 and doc["error_curve"][0]["p_promote"] == 1.0
    assert 0 < doc["detected_error_rate"] < 0.05


def test_check_fails_naming_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    # 1.2 x the gate is often promoted: a 0 % bound must refuse it.
    argv = ["--headline", "--check", "--bad-factor", "1.2", "--max-promote-bad", "0"]
    code = power_cli.main([*argv, "--releases", "300", "--points", "3"])
    err = capsys.readouterr().err
    assert code == 1
    assert "canary.load_rps" in err and "canary.threshold" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dist", "does-not-exist"], "make synth"),
        (["--values", "no-such-values.yaml"], "no such values file"),
        (["--latency-median-ms", "50", "--latency-p99-ms", "10"], "--latency-median-ms"),
    ],
)
def test_bad_input_exits_2_with_a_message(argv: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rehearsal", "power", *argv, "--releases", "10"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_chart_is_written_and_a_failed_write_keeps_the_old(tmp_path: Path) -> None:
    chart = tmp_path / "power.png"
    argv = ["--headline", "--releases", "50", "--points", "3", "--chart", str(chart)]
    assert power_cli.main(argv) == 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    blocked = tmp_path / "file"
    blocked.write_text("keep")
    assert power_cli.main([*argv[:-1], str(blocked / "power.png")]) == 2
    assert blocked.read_text() == "keep"


def test_bench_prints_releases_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    assert power_cli.main(["--bench", "--releases", "200"]) == 0
    out = capsys.readouterr().out
    assert "simulated releases per second" in out and "per CPU second" in out


def test_json_holds_the_time_to_a_rollback(capsys: pytest.CaptureFixture[str]) -> None:
    assert power_cli.main(["--json", "--releases", "300", "--points", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    shares = doc["rollback_share"]
    # 5 x the gate: every release rolled back, never before the tick after 5 failed
    # checks (tick 7 at the earliest: the acceptance test itself can fail).
    assert sum(shares.values()) == pytest.approx(1.0)
    assert min(float(s) for s in shares) >= 7 * 60


@pytest.mark.live
def test_strict_mode_refuses_a_synthesized_canary_outside_the_bounds(tmp_path: Path) -> None:
    """2 orders/s and 30 s windows (a values file, synthesized by synth): 6 canary
    orders a window at weight 10, so a canary failing 5 x the error gate is promoted
    far above 1 % of the time; the check names the settings with their values."""
    values = tmp_path / "values.yaml"
    values.write_text("canary:\n  load_rps: 2\n  metric_window_s: 30\n")
    argv = ["power", "--values", str(values), "--headline", "--check", "--releases", "1000"]
    done = subprocess.run(
        [sys.executable, "-m", "rehearsal", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "canary.load_rps (now 2)" in done.stderr
    assert "canary.metric_window_s (now 30)" in done.stderr


# --- a measured latency histogram ----------------------------------------------------

METRICS = """\
# HELP http_request_latency_seconds Request latency
# TYPE http_request_latency_seconds histogram
{lines}
"""


def _metrics(tmp_path: Path, buckets: dict[str, int], path: str = "/api/order") -> Path:
    lines = "\n".join(
        f'http_request_latency_seconds_bucket{{method="POST",path="{path}",le="{le}"}} {n}'
        for le, n in buckets.items()
    )
    out = tmp_path / "metrics.txt"
    out.write_text(METRICS.format(lines=lines))
    return out


def test_measured_histogram_is_the_latency_distribution(tmp_path: Path) -> None:
    # 97 % within 50 ms, 3 % in (0.25, 0.5]: p99 sits in (0.25, 0.5] already, so a
    # +100 ms shift pushes it over 500 ms on every window; the lognormal would not.
    text = _metrics(tmp_path, {"0.05": 97, "0.25": 97, "0.5": 100, "+Inf": 100})
    bounds, shares = read_histogram(text)
    assert bounds == (0.05, 0.25, 0.5) and shares == (0.97, 0.97, 1.0)
    cdf = histogram_cdf(bounds, shares, np.array([0.025, 0.05, 0.375, 0.6]), 0.0)
    np.testing.assert_allclose(cdf, [0.485, 0.97, 0.985, 1.0])
    measured = Traffic(latency=Latency(measured=(bounds, shares)))
    slow = simulate(plan(), Truth(shift_ms=200), traffic=measured, releases=300, seed=1)
    stated = simulate(plan(), Truth(shift_ms=200), traffic=Traffic(), releases=300, seed=1)
    assert slow.p_promote < 0.05 and stated.p_promote == 1.0


def test_a_histogram_without_order_observations_is_refused(tmp_path: Path) -> None:
    text = _metrics(tmp_path, {"0.05": 3, "+Inf": 3}, path="/api/health")
    code = power_cli.main(["--latency-from", str(text), "--headline", "--releases", "10"])
    assert code == 2
