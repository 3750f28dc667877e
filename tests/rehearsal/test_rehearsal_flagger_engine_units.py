"""The Flagger engine's parts that need no cluster: the release it synthesizes,
and how it reads Flagger (Canary status, log lines, events, gauges) into ticks.

The Canary documents and log lines are written by hand from Flagger 1.44's
CRD fields (`status.phase`, `canaryWeight`, `failedChecks`, `iterations`,
`conditions`) and its event messages (`pkg/controller/scheduler*.go`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from rehearsal.oncluster import cluster_watch as watch
from rehearsal.oncluster.cluster_release import (
    faults_values,
    release_values,
    synthesize_release,
    time_settings,
    with_failing_query,
    without_load_start,
)
from rehearsal.oncluster.flagger_engine import new_version
from rehearsal.outcome import ClusterFacts, Options, Outcome, TickRecord, Track
from rehearsal.report.verdict import verdict_json, verdict_lines
from rehearsal.spec.canary_spec import load_canary
from rehearsal.spec.flagger_analysis import Action, Phase, Stage, Status
from stack.config import ConfigError, StackConfig, load_config
from stack.validation import check_config
from tests.rehearsal.compare import compare

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
KEY = "order-api.sre-demo"
T0 = datetime(2026, 12, 1, 8, 40, tzinfo=UTC).timestamp()


def _canary_doc(**status: object) -> dict[str, object]:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "order-api", "namespace": "sre-demo"},
        "status": {
            "conditions": [
                {
                    "type": "Promoted",
                    "status": "Unknown",
                    "reason": "Progressing",
                    "message": "New revision detected, progressing canary analysis.",
                }
            ],
            **status,
        },
    }


def _log(at: float, msg: str, canary: str = KEY, level: str = "info") -> str:

    ts = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return json.dumps(
        {
            "level": level,
            "ts": ts,
            "caller": "controller/events.go:33",
            "msg": msg,
            "canary": canary,
        }
    )


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release synthesized as the engine does: new tag, 20 % errors, compressed time."""
    times = time_settings(StackConfig())
    values = release_values(version="1.1.0", faults={"fault_error_rate": 0.2}, times=times)
    folder = tmp_path_factory.mktemp("release") / "release"
    synthesize_release(values, folder, env={})
    return folder


# --- the release ----------------------------------------------------------------------


def test_time_settings_use_flaggers_floor_and_scale_the_scrape_interval() -> None:
    times = time_settings(StackConfig())
    assert (times.interval_s, times.metric_window_s, times.scrape_interval_s) == (10, 10, 2)
    assert times.factor == 6
    assert times.load_rps == 60  # as many orders per window as production's 10/s in 60 s
    slow = load_config(
        env={
            "ORDER_API_SRE_CANARY__INTERVAL_S": "120",
            "ORDER_API_SRE_MONITORING__SCRAPE_INTERVAL_S": "60",
        }
    )
    scaled = time_settings(slow)
    assert (scaled.scrape_interval_s, scaled.factor) == (5, 12)
    assert scaled.metric_window_s >= 2 * scaled.scrape_interval_s


def test_the_config_validation_accepts_the_rehearsal_settings(release: Path) -> None:
    config = load_config(env={}, values_file=release.parent / "rehearsal-values.yaml")
    check_config(config)  # raises on a refused value
    assert config.canary.interval_s == 10
    assert config.monitoring.scrape_interval_s == 2


def test_the_release_changes_only_tag_faults_and_time(release: Path) -> None:
    canary = load_canary(release)
    assert canary.interval == "10s"
    assert {m.interval for m in canary.metrics} == {"10s"}
    # the load outlasts the compressed analysis: (1 + 5 + 5 + 2 + 1) x 10 s
    heys = [h.hey() for h in canary.load_hooks()]
    assert {(h.duration_s, h.qps_per_worker * h.workers) for h in heys if h} == {(140.0, 60)}
    deployment = next(
        d
        for d in yaml.safe_load_all((release / "20-order-api.k8s.yaml").read_text())
        if d and d["kind"] == "Deployment"
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert container["image"] == "order-api:1.1.0"
    assert env["ORDER_API_FAULT_ERROR_RATE"] == "0.2"
    prometheus = (release / "50-prometheus.k8s.yaml").read_text()
    assert "scrape_interval: 2s" in prometheus
    # Everything else is the user's configuration: the same gates as dist/.
    production = load_canary(DIST)
    assert [(m.name, m.min, m.max) for m in canary.metrics] == [
        (m.name, m.min, m.max) for m in production.metrics
    ]
    assert (canary.threshold, canary.max_weight, canary.step_weight) == (
        production.threshold,
        production.max_weight,
        production.step_weight,
    )


def test_an_environment_override_of_a_rehearsal_setting_is_refused(tmp_path: Path) -> None:
    values = release_values(version="1.1.0", faults={}, times=time_settings(StackConfig()))
    with pytest.raises(ConfigError, match="ORDER_API_SRE_CANARY__INTERVAL_S"):
        synthesize_release(values, tmp_path / "out", env={"ORDER_API_SRE_CANARY__INTERVAL_S": "30"})
    assert not (tmp_path / "out").exists()


def test_extra_values_reach_the_canary(tmp_path: Path) -> None:
    values = release_values(
        version="1.1.0",
        faults={},
        times=time_settings(StackConfig()),
        extra={"canary": {"step_weights": [10, 30, 50]}},
    )
    synthesize_release(values, tmp_path / "out", env={})
    assert load_canary(tmp_path / "out").step_weights == (10, 30, 50)


def test_faults_come_from_the_scenario_environment() -> None:
    assert faults_values({"ORDER_API_FAULT_ERROR_RATE": "0.2"}) == {"fault_error_rate": 0.2}
    assert faults_values({"ORDER_API_FAULT_DELAY_MS": "700"}) == {"fault_delay_ms": 700}
    with pytest.raises(ConfigError, match="ORDER_API_VERSION"):
        faults_values({"ORDER_API_VERSION": "x"})


def test_the_canary_before_the_fix_has_only_the_rollout_load(tmp_path: Path) -> None:
    values = release_values(version="1.1.0", faults={}, times=time_settings(StackConfig()))
    synthesize_release(values, tmp_path / "out", env={})
    without_load_start(tmp_path / "out")
    canary = load_canary(tmp_path / "out")
    loads = canary.load_hooks()
    assert [(h.name, h.type) for h in loads] == [("load-test", "rollout")]
    # Each race settled by 2 s: 10 s windows, so a 14 s interval, and hey outlives
    # it by 2 s (the next call is dropped; the window after that one is empty).
    assert canary.interval_s == 14.0
    assert loads[0].hey().duration_s == 16.0  # type: ignore[union-attr]
    assert {m.interval_s for m in canary.metrics} == {10.0}
    assert [h.name for h in canary.webhooks_of("pre-rollout")] == ["acceptance-test"]


def test_a_failing_query_breaks_only_its_template(tmp_path: Path) -> None:
    values = release_values(version="1.1.0", faults={}, times=time_settings(StackConfig()))
    synthesize_release(values, tmp_path / "out", env={})
    before = load_canary(tmp_path / "out")
    with_failing_query(tmp_path / "out", metric="error-rate")
    after = load_canary(tmp_path / "out")
    changed = [
        m.name
        for m, n in zip(before.metrics, after.metrics, strict=True)
        if (m.template and m.template.query) != (n.template and n.template.query)
    ]
    assert changed == ["error-rate"]
    with pytest.raises(ConfigError, match="no template metric 'request-duration'"):
        with_failing_query(tmp_path / "out", metric="request-duration")  # a built-in one


def test_the_canary_version_is_new_to_the_cluster() -> None:
    assert new_version(None, "1.0.0", {"1.0.0"}) == "1.0.0-canary"
    assert new_version(None, "1.0.0", {"1.0.0", "1.0.0-canary"}) == "1.0.0-canary.2"
    assert new_version("2.0.0", "1.0.0", {"2.0.0"}) == "2.0.0"


# --- reading Flagger --------------------------------------------------------------------


def test_canary_status_reads_the_crd_fields() -> None:
    state = watch.canary_status(
        _canary_doc(phase="Progressing", canaryWeight=20, failedChecks=1, iterations=0)
    )
    assert (state.phase, state.canary_weight, state.failed_checks) == ("Progressing", 20, 1)
    assert state.active and state.status == Status(
        phase=Phase.PROGRESSING, canary_weight=20, failed_checks=1
    )
    assert watch.canary_status(_canary_doc(phase="WaitingPromotion")).status.phase == (
        Phase.PROGRESSING
    )
    fresh = watch.canary_status({"kind": "Canary", "metadata": {}})
    assert fresh.status == Status() and not fresh.active
    assert watch.canary_status(_canary_doc(phase="Failed")).status.phase.terminal


def test_log_lines_keep_only_the_canarys_json_lines() -> None:
    text = "\n".join(
        [
            "flag provided but not defined",  # not JSON
            _log(T0, "Advance order-api.sre-demo canary weight 10"),
            _log(T0 + 0.2, "Synced other", canary="other.ns"),
            '{"level":"info","ts":"garbage","msg":"x","canary":"order-api.sre-demo"}',
            json.dumps(
                {"level": "info", "ts": "2026-12-01T08:40:10.500+0000", "msg": "m", "canary": KEY}
            ),
        ]
    )
    lines = watch.flagger_log_lines(text, KEY)
    assert [line.message for line in lines] == ["Advance order-api.sre-demo canary weight 10", "m"]
    assert lines[0].at == pytest.approx(T0)
    assert lines[1].at == pytest.approx(T0 + 10.5)


def test_log_lines_group_into_ticks() -> None:
    lines = watch.flagger_log_lines(
        "\n".join(
            [
                _log(T0, "Starting canary analysis for order-api.sre-demo"),
                _log(T0 + 0.3, "Pre-rollout check acceptance-test passed"),
                _log(T0 + 0.4, "Advance order-api.sre-demo canary weight 10"),
                _log(T0 + 10.1, "Advance order-api.sre-demo canary weight 20"),
            ]
        ),
        KEY,
    )
    grouper = watch.TickGrouper(span_s=5.0)
    assert grouper.feed(lines[:2], now=T0 + 1.0) == []  # still open: lines may follow
    first = grouper.feed(lines, now=T0 + 10.2)
    assert [len(g) for g in first] == [3]  # the second run's line starts a new group
    assert grouper.feed(lines, now=T0 + 11.0) == []
    assert [g[0].message for g in grouper.feed(lines, now=T0 + 12.2)] == [lines[3].message]
    assert grouper.flush() == []


def test_event_tracker_reports_each_occurrence_once() -> None:
    def event(uid: str, count: int, message: str, at: str) -> dict[str, object]:
        return {
            "metadata": {"uid": uid, "name": f"order-api.{uid}"},
            "involvedObject": {"kind": "Canary", "name": "order-api"},
            "type": "Warning",
            "reason": "Synced",
            "message": message,
            "count": count,
            "lastTimestamp": at,
        }

    tracker = watch.EventTracker(since=T0)
    old = event("a", 3, "Halt advancement no values found", "2026-12-01T08:39:00Z")
    first = {"items": [old, event("b", 1, "Starting canary analysis", "2026-12-01T08:40:01Z")]}
    assert [e.message for e in tracker.feed(first)] == ["Starting canary analysis"]
    assert tracker.feed(first) == []
    combined = event(
        "b", 2, "(combined from similar events): Advance canary weight 20", "2026-12-01T08:40:11Z"
    )
    second = {
        "items": [combined, {**old, "involvedObject": {"kind": "Deployment", "name": "order-api"}}]
    }
    assert [(e.message, e.count) for e in tracker.feed(second)] == [("Advance canary weight 20", 2)]


def test_halt_messages_name_the_failing_metric(release: Path) -> None:
    canary = load_canary(release)
    cases = {
        "Halt advancement no values found for traefik metric request-success-rate probably "
        "order-api.sre-demo is not receiving traffic: running query failed: no values found": (
            "request-success-rate",
            "no values found",
        ),
        "Halt order-api.sre-demo advancement success rate 80.00% < 99%": (
            "request-success-rate",
            "",
        ),
        "Halt order-api.sre-demo advancement request duration 1.2s > 500ms": (
            "request-duration",
            "",
        ),
        "Halt order-api.sre-demo advancement error-rate 20.00 > 1": ("error-rate", ""),
        "Halt advancement no values found for custom metric: latency-p99: no values found": (
            "latency-p99",
            "no values found",
        ),
    }
    for message, (metric, detail) in cases.items():
        assert watch.halt_of([message], canary) == watch.Halt(metric=metric, detail=detail)
    failed = watch.halt_of(["Metric query failed for error-rate: bad_data"], canary)
    assert failed is not None and failed.metric == "error-rate"
    assert failed.detail.startswith("error: ")
    assert watch.halt_of(["Advance order-api.sre-demo canary weight 20"], canary) is None


def test_tick_metrics_follow_flaggers_order_and_stop_at_the_failure(release: Path) -> None:
    canary = load_canary(release)
    gauges = {
        "request-success-rate": 100.0,
        "request-duration": 0.049,
        "error-rate": 20.0,
        "latency-p99": 7.0,
    }
    halt = watch.Halt(metric="error-rate", detail="")
    results = watch.tick_metrics(canary, analysed=True, halt=halt, gauges=gauges)
    assert [(m.name, m.passed) for m in results] == [
        ("request-success-rate", True),
        ("request-duration", True),
        ("error-rate", False),
    ]
    assert results[1].value == pytest.approx(49.0) and results[1].unit == "ms"
    assert "[10s]" in results[0].query  # the query Flagger ran, at the release's window
    empty = watch.tick_metrics(
        canary,
        analysed=True,
        halt=watch.Halt(metric="request-success-rate", detail="no values found"),
        gauges=gauges,  # a stale value from an earlier tick must not show
    )
    assert [(m.name, m.value, m.verdict) for m in empty] == [
        ("request-success-rate", None, "no values found")
    ]
    passed = watch.tick_metrics(
        canary, analysed=True, halt=None, gauges={**gauges, "error-rate": 0}
    )
    assert len(passed) == 4 and all(m.passed for m in passed)
    assert watch.tick_metrics(canary, analysed=False, halt=None, gauges=gauges) == []


def test_transitions_rebuilt_from_status_and_messages() -> None:
    start = Status()
    progressing = Status(phase=Phase.PROGRESSING)
    t = watch.transition_of(start, progressing, ["New revision detected! Scaling up order-api"])
    assert (t.stage, t.passed, t.action) == (None, None, Action.NONE)
    pre = watch.transition_of(
        progressing,
        Status(phase=Phase.PROGRESSING, canary_weight=10),
        ["Starting canary analysis for order-api.sre-demo", "Advance canary weight 10"],
    )
    assert (pre.stage, pre.passed) == (Stage.PRE_ROLLOUT, True)
    at10 = Status(phase=Phase.PROGRESSING, canary_weight=10)
    halted = watch.transition_of(
        at10, Status(phase=Phase.PROGRESSING, canary_weight=10, failed_checks=1), ["Halt ..."]
    )
    assert (halted.stage, halted.passed) == (Stage.ANALYSIS, False)
    at50 = Status(phase=Phase.PROGRESSING, canary_weight=50)
    promote = watch.transition_of(
        at50,
        Status(phase=Phase.PROMOTING, canary_weight=50),
        ["Copying order-api.sre-demo template spec to order-api-primary.sre-demo"],
    )
    assert (promote.stage, promote.passed, promote.action) == (
        Stage.ANALYSIS,
        True,
        Action.PROMOTE_PRIMARY,
    )
    done = watch.transition_of(
        Status(phase=Phase.FINALISING),
        Status(phase=Phase.SUCCEEDED),
        ["Promotion completed! Scaling down order-api.sre-demo"],
    )
    assert done.action == Action.SCALE_CANARY_TO_ZERO and done.stage is None


def test_state_sequence_drops_ticks_that_change_nothing() -> None:
    s0 = Status(phase=Phase.PROGRESSING)
    s1 = Status(phase=Phase.PROGRESSING, canary_weight=10)
    ts = [
        watch.transition_of(Status(), s0, []),
        watch.transition_of(s0, s0, ["canary deployment order-api.sre-demo not ready"]),
        watch.transition_of(s0, s1, ["Advance canary weight 10"]),
    ]
    assert watch.state_sequence(ts) == [("Progressing", 0, 0), ("Progressing", 10, 0)]


def test_traefik_weights_use_traefiks_backend_names() -> None:
    doc = {
        "metadata": {"name": "order-api", "namespace": "sre-demo"},
        "spec": {
            "weighted": {
                "services": [
                    {"name": "order-api-primary", "port": 80, "weight": 90},
                    {"name": "order-api-canary", "port": 80, "weight": 10},
                ]
            }
        },
    }
    assert watch.traefik_weights(doc) == {
        "sre-demo-order-api-primary-80": 90,
        "sre-demo-order-api-canary-80": 10,
    }
    assert watch.gauges_of([({"metric": "error-rate"}, 0.5)]) == {"error-rate": 0.5}


def test_verdict_block_prints_real_and_production_durations(release: Path) -> None:
    canary = load_canary(release)
    options = Options(
        dist=release,
        speed=1.0,
        rate=10.0,
        scrape_interval_s=2.0,
        primary=Track(version="1.0.0"),
        canary=Track(version="1.1.0"),
        host="order-api.example.com",
        probe_body="{}",
        probe_path="/api/order",
    )
    outcome = Outcome(
        canary=canary,
        options=options,
        cluster=ClusterFacts(production_factor=6.0, production_interval_s=60),
        analysis_started_at=T0,
        verdict_at=T0 + 90,
    )
    final = watch.transition_of(Status(phase=Phase.FINALISING), Status(phase=Phase.SUCCEEDED), [])
    outcome.ticks.append(
        TickRecord(
            tick=1,
            slot=9,
            real_s=90.0,
            simulated_s=540.0,
            transition=final,
            metrics=[],
            hooks=[],
            load=outcome.load_total,
            routes={},
        )
    )
    lines = verdict_lines(outcome, scenario="healthy", expected="promoted")
    time_line = next(line for line in lines if line.strip().startswith("time"))
    assert "90.0 s real on Flagger (interval 10s)" in time_line
    assert "9m0s in production (interval 60s, x6)" in time_line
    doc = verdict_json(outcome, scenario="healthy", expected="promoted")
    assert (doc["engine"], doc["production_s"], doc["verdict"]) == ("flagger", 540.0, "promoted")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--values", "x.yaml"], "--values needs --engine flagger"),
        (["--engine", "flagger", "--rate", "5"], "--rate is the model engine's"),
    ],
)
def test_flags_that_do_not_apply_are_refused(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rehearsal", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr


# --- model against Flagger ---------------------------------------------------------------


def _tick(
    phase: str, weight: int, failed: int, *, passed: bool | None = None, failing: str = ""
) -> dict[str, object]:
    metrics = [{"name": failing, "passed": False}] if failing else []
    return {
        "phase": phase,
        "canary_weight": weight,
        "failed_checks": failed,
        "passed": passed,
        "metrics": metrics,
        "hooks": [],
    }


def test_comparison_ignores_ticks_that_change_nothing_and_names_differences() -> None:
    model = {
        "verdict": "rolled back",
        "ticks": [
            _tick("Progressing", 0, 0),
            _tick("Progressing", 10, 0, passed=True),
            _tick("Progressing", 10, 1, passed=False, failing="request-success-rate"),
            _tick("Failed", 0, 1),
        ],
    }
    flagger: dict[str, Any] = {
        "verdict": "rolled back",
        "ticks": [
            _tick("Progressing", 0, 0),
            _tick("Progressing", 0, 0),  # waiting for the canary's pods: timing only
            _tick("Progressing", 10, 0, passed=True),
            _tick("Progressing", 10, 1, passed=False, failing="request-success-rate"),
            _tick("Failed", 0, 1),
        ],
    }
    result = compare(model, flagger)
    assert result.agree, result.differences
    flagger["ticks"][3] = _tick("Progressing", 10, 1, passed=False, failing="error-rate")
    flagger["verdict"] = "promoted"
    differences = compare(model, flagger).differences
    assert [d.split(":")[0] for d in differences] == ["verdict", "failed checks"]


def _promoted_run(*extra_failure_at: int) -> dict[str, Any]:
    """A stepWeights [10, 30] promotion; a failed request-duration check at each given tick."""
    weights = [0, 10, 30]
    ticks, failed = [], 0
    for i, weight in enumerate(weights):
        ticks.append(_tick("Progressing", weight, failed, passed=True))
        if i in extra_failure_at:
            failed += 1
            ticks.append(
                _tick("Progressing", weight, failed, passed=False, failing="request-duration")
            )
    ticks += [_tick("Promoting", 30, failed), _tick("Succeeded", 0, failed)]
    return {"verdict": "promoted", "ticks": ticks}


def test_comparison_tolerates_one_one_sided_latency_failure_when_asked() -> None:
    model, flagger = _promoted_run(), _promoted_run(1)
    noise = frozenset({"request-duration", "latency-p99"})
    assert not compare(model, flagger).agree  # not without asking
    result = compare(model, flagger, noise=noise)
    assert result.agree, result.differences
    assert result.tolerated == ("Flagger: one failed request-duration check at 10 % (noise)",)
    assert "tolerated" in result.lines()[-1]
    # Two of them, or one on each side, are a difference.
    assert not compare(model, _promoted_run(1, 2), noise=noise).agree
    assert compare(_promoted_run(2), flagger, noise=noise).differences
    # Another metric is never discounted.
    other = _promoted_run(1)
    other["ticks"][2]["metrics"][0]["name"] = "error-rate"
    assert not compare(model, other, noise=noise).agree


def _rolled_back_run(*gates: str) -> dict[str, Any]:
    """Failed checks at 10 %, one per gate given, then the rollback."""
    ticks = [_tick("Progressing", 10, 0, passed=True)]
    for n, gate in enumerate(gates, start=1):
        ticks.append(_tick("Progressing", 10, n, passed=False, failing=gate))
    return {"verdict": "rolled back", "ticks": [*ticks, _tick("Failed", 0, 0)]}


def test_comparison_takes_one_check_of_another_error_gate_as_the_same_when_asked() -> None:
    gates = frozenset({"request-success-rate", "error-rate"})
    model = _rolled_back_run(*["request-success-rate"] * 3)
    flagger = _rolled_back_run("request-success-rate", "request-success-rate", "error-rate")
    assert not compare(model, flagger).agree  # not without asking
    result = compare(model, flagger, same_failure=gates)
    assert result.agree, result.differences
    assert result.tolerated == (
        "one failed check at 10 %: model request-success-rate, Flagger error-rate "
        "(the same failures, seen by two gates)",
    )
    # Two such places, or a gate outside the set, are a difference.
    two = _rolled_back_run("request-success-rate", "error-rate", "error-rate")
    assert not compare(model, two, same_failure=gates).agree
    latency = _rolled_back_run("request-success-rate", "request-success-rate", "latency-p99")
    assert not compare(model, latency, same_failure=gates).agree
