"""The real Flagger decides: `python -m rehearsal --engine flagger` on the local cluster,
and the model engine run on the same synthesized Canary, compared.

One cluster for the module (reused when running, brought up otherwise, and
taken down at the end when this module brought it up). The Flagger runs are
sequential (one Canary, one cluster); each starts the model engine on the
same release at once, so the model costs no wall time. The three scenarios
go through the command line (`--json --junit --report`); the other cases
through the engine's API, which can edit the release before it is applied.

Tolerances (model against Flagger): the verdict, the sequence of (phase,
weight, failed checks) states and the metric that failed each failed check
must be equal. Ticks that change no state are dropped on both sides: Flagger
waits a tick when the canary's pods are not ready yet, and its first tick
after the apply comes 0-10 s late (its job restarts on the new interval), so
tick times are never compared. In a case without a latency fault, one
failed latency check (request-duration or latency-p99) on one side only is
discounted and printed (`tests.rehearsal.compare`, `noise`): a 500 ms p99 gate
flips on one stalled request among the ~60 of a canary window on a shared
machine. Error faults are spread evenly by order-api, so they leave no luck
to tolerate.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dashboards import alerts
from dashboards import queries as q
from dashboards.alert_routing import ON_CALL
from rehearsal.oncluster.cluster_release import (
    faults_values,
    release_values,
    synthesize_release,
    time_settings,
    with_failing_query,
    without_load_start,
)
from rehearsal.oncluster.flagger_engine import CONTROL_LOOP_S
from rehearsal.report.report_data import outcome_json
from rehearsal.report.verdict import EXIT_PROMOTED, EXIT_ROLLED_BACK
from rehearsal.spec.duration_text import prometheus_duration
from rehearsal.spec.scenarios import PROMOTED, ROLLED_BACK
from stack.config import load_config
from stack.names import ERROR_RATE, LATENCY_P99, REQUEST_DURATION, REQUEST_SUCCESS_RATE, app_names
from tests.rehearsal.compare import compare
from tests.support.alert_sink import (
    ALERTMANAGER_PATH,
    FLAGGER_ALERTS_PATH,
    add_sink,
    events_path,
    sink_config,
    sink_values,
    wait_for_records,
)
from tests.support.prerequisites import require_cluster_prerequisites

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
NAMESPACE, CANARY = "sre-demo", "order-api"
MAX_WEIGHT = load_config(env={}).canary.max_weight
THRESHOLD = load_config(env={}).canary.threshold
PRIMARY_BACKEND, CANARY_BACKEND = (
    f"{NAMESPACE}-{CANARY}-primary-80",
    f"{NAMESPACE}-{CANARY}-canary-80",
)
# Gates of the threshold cases: a 10 % error budget, so a window of 60 canary
# orders (10 % of 600) measures the fault rate to about +-4 points.
LATENCY_CHECKS = frozenset({REQUEST_DURATION, LATENCY_P99})
# The same 5xx answers, counted by Traefik and by order-api and scraped at other
# moments: one CI run saw Flagger fail error-rate (12.5 %) where the model failed
# request-success-rate, at the same tick of the errors case.
ERROR_GATES = frozenset({REQUEST_SUCCESS_RATE, ERROR_RATE})
WIDE_GATES = {"success_rate_min_percent": 90.0, "error_rate_max_percent": 10.0}
# The erroring case that also proves the alert paths (tests/support/alert_sink.py).
ALERT_CASE = "over-threshold"
# After the verdict: a scrape, a rule evaluation and Alertmanager's 1 s group wait
# bring CanaryRolledBack in a few seconds; this bounds the wait.
SINK_TIMEOUT_S = 60.0


@dataclass(frozen=True, kw_only=True)
class Case:
    name: str
    scenario: str
    expect: str
    extra: dict[str, Any] = field(default_factory=dict)
    canary_env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Path], None] | None = None
    cli: bool = False  # through `python -m rehearsal --engine flagger`
    client_rate: float = 10.0  # the measuring client's orders/s


CASES = [
    # First, on a quiet cluster: the fixed Canary's long hey keeps running after its
    # verdict and would fill the windows of a run that starts soon after.
    # The Canary before the load-test fix: only the rollout `hey`, so its first
    # analysis has no traffic, and every second one neither (the next call is
    # dropped while hey still runs); `without_load_start` settles both races by
    # 2 s, so the verdict does not depend on timing jitter.
    # The measuring client stays off here: its orders would fill the empty windows.
    Case(
        name="before-fix",
        scenario="healthy",
        expect=ROLLED_BACK,
        prepare=without_load_start,
        client_rate=0.0,
    ),
    Case(name="healthy", scenario="healthy", expect=PROMOTED, cli=True),
    Case(name="errors", scenario="errors", expect=ROLLED_BACK, cli=True),
    Case(name="latency", scenario="latency", expect=ROLLED_BACK, cli=True),
    Case(
        name="step-weights",
        scenario="healthy",
        expect=PROMOTED,
        extra={"canary": {"step_weights": [10, 30, 50]}},
    ),
    Case(
        name="under-threshold",
        scenario="healthy",
        expect=PROMOTED,
        extra={"canary": {**WIDE_GATES, "step_weights": [20, 50]}},
        canary_env={"ORDER_API_FAULT_ERROR_RATE": "0.04"},
    ),
    # A metric query Prometheus refuses (not PromQL): Flagger counts a failed check.
    Case(
        name="query-error",
        scenario="healthy",
        expect=ROLLED_BACK,
        prepare=with_failing_query,
    ),
    # Last, since its gates change Prometheus' rules anyway (a new Prometheus pod): the
    # alert proof rides on it. The release carries tests/support/alert_sink_values.yaml
    # and the webhook sink pod: the rollback and the canary's error-rate alert reach it.
    Case(
        name=ALERT_CASE,
        scenario="healthy",
        expect=ROLLED_BACK,
        extra={"canary": {**WIDE_GATES, "step_weights": [20, 50]}, **sink_values()},
        canary_env={"ORDER_API_FAULT_ERROR_RATE": "0.3"},
        prepare=add_sink,
    ),
]


# A comma-separated subset of the cases, to debug one of them (never set in CI).
ONLY_ENV = "REHEARSAL_FLAGGER_CASES"


def _selected() -> list[Case]:
    only = {n for n in os.environ.get(ONLY_ENV, "").split(",") if n}
    return [c for c in CASES if not only or c.name in only]


@dataclass
class Result:
    case: Case
    flagger: dict[str, Any]  # report.json of the Flagger run
    model: dict[str, Any]  # report.json of the model run
    exit_code: int
    verdict_doc: dict[str, Any]
    wall_s: float
    started_at: float
    ended_at: float
    junit: str = ""
    primary_env: dict[str, str] = field(default_factory=dict)
    # The CPU entry of the primary HPA's status (Flagger's copy, fed by metrics-server).
    primary_hpa_cpu: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    panels: dict[str, Any] = field(default_factory=dict)  # §4, read right after the run
    sink: list[dict[str, Any]] = field(default_factory=list)  # §5, the alert sink's records
    sink_wait_s: float = 0.0  # how long after the run the last awaited message took
    alert_states: dict[str, Any] = field(default_factory=dict)  # to explain a missing alert


def _model_release(case: Case, folder: Path) -> Path:
    """The same release the Flagger engine synthesizes (the tag aside, which the
    model does not read), for the model engine."""
    times = time_settings(load_config())
    values = release_values(
        version="1.1.0", faults=faults_values(case.canary_env), times=times, extra=case.extra
    )
    synthesize_release(values, folder, env={})
    if case.prepare is not None:
        case.prepare(folder)
    return folder


def _start_model(case: Case, folder: Path, report: Path) -> subprocess.Popen[str]:
    times = time_settings(load_config())
    argv = [
        sys.executable,
        "-m",
        "rehearsal",
        "--dist",
        str(folder),
        "--speed",
        "1",
        "--scrape-interval",
        str(times.scrape_interval_s),
        "--scenario",
        case.scenario,
        "--report",
        str(report),
        "--json",
    ]
    for key, value in case.canary_env.items():
        argv += ["--canary-env", f"{key}={value}"]
    return subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _run_cli(case: Case, tmp: Path) -> tuple[int, dict[str, Any], dict[str, Any], str]:
    report, junit = tmp / "flagger-report", tmp / "flagger-junit.xml"
    argv = [
        sys.executable,
        "-m",
        "rehearsal",
        "--engine",
        "flagger",
        "--scenario",
        case.scenario,
        "--json",
        "--junit",
        str(junit),
        "--report",
        str(report),
    ]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    sys.stderr.write(done.stderr)
    if done.returncode not in (EXIT_PROMOTED, EXIT_ROLLED_BACK):
        raise AssertionError(f"exit {done.returncode}:\n{done.stderr[-3000:]}")
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    return done.returncode, doc, json.loads((report / "report.json").read_text()), junit.read_text()


def _run_api(case: Case, tmp: Path) -> tuple[int, dict[str, Any], dict[str, Any], str]:
    from rehearsal.oncluster.flagger_engine import FlaggerRun, rehearse_on_flagger
    from rehearsal.report.console import Console, tick_printer
    from rehearsal.report.verdict import verdict_json, verdict_of
    from rehearsal.spec.canary_spec import Canary

    read: list[Canary] = []  # the Canary of the release, once prepared
    console = Console(sys.stderr)
    outcome = rehearse_on_flagger(
        FlaggerRun(
            scenario=case.scenario,
            canary_env=case.canary_env,
            extra_values=case.extra,
            prepare=case.prepare,
            client_rate=case.client_rate,
        ),
        scenario_env={},
        out=lambda record: tick_printer(console, read[-1], sim_word="prod")(record),
        announce=console.print,
        describe=lambda canary, _options: read.append(canary),
    )
    doc = verdict_json(outcome, scenario=case.scenario, expected=case.expect)
    return verdict_of(outcome).exit_code, doc, outcome_json(outcome), ""


def _primary_env() -> dict[str, str]:
    from cluster.client import get_json

    doc = get_json("-n", NAMESPACE, "deployment", f"{CANARY}-primary")
    container = doc["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


# A promotion replaces the primary's pods: metrics-server needs two scrapes of
# the new ones (15 s resolution) and the HPA one sync (15 s) before it reports.
HPA_CPU_WAIT_S = 90


def _primary_hpa_cpu() -> dict[str, Any]:
    """The CPU the primary's HPA reports, waited for while it has none yet."""
    from cluster.client import get_json

    deadline = time.monotonic() + HPA_CPU_WAIT_S
    while True:
        doc = get_json("-n", NAMESPACE, "hpa", f"{CANARY}-primary")
        for metric in doc["status"].get("currentMetrics") or []:
            current = metric.get("resource", {}).get("current", {})
            if metric.get("type") == "Resource" and current.get("averageValue"):
                return dict(current)
        if time.monotonic() > deadline:
            return {"status": doc["status"]}
        time.sleep(3)


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory, figures: list[str]
) -> Iterator[dict[str, Result]]:
    """Every case on Flagger, one after the other, each beside its model run."""
    from cluster import lifecycle
    from rehearsal.oncluster.flagger_engine import ensure_cluster

    require_cluster_prerequisites()
    tier_started = time.monotonic()
    was_running = lifecycle.is_running()
    up_s = ensure_cluster(say)
    out: dict[str, Result] = {}
    try:
        for case in _selected():
            tmp = tmp_path_factory.mktemp(case.name)
            model = _start_model(case, _model_release(case, tmp / "model-release"), tmp / "model")
            started, started_at = time.monotonic(), time.time()
            try:
                code, doc, report, junit = (_run_cli if case.cli else _run_api)(case, tmp)
                error = ""
            except Exception as exc:  # one case failing must not hide the others
                code, doc, report, junit, error = -1, {}, {}, "", f"{type(exc).__name__}: {exc}"
            wall = time.monotonic() - started
            ended_at = time.time()
            _, model_err = model.communicate(timeout=600)
            model_report = tmp / "model" / "report.json"
            out[case.name] = Result(
                case=case,
                flagger=report,
                model=json.loads(model_report.read_text()) if model_report.exists() else {},
                exit_code=code,
                verdict_doc=doc,
                wall_s=wall,
                started_at=started_at,
                ended_at=ended_at,
                junit=junit,
                primary_env=_primary_env() if not error else {},
                primary_hpa_cpu=_primary_hpa_cpu() if not error else {},
                error=error or ("" if model_report.exists() else f"model: {model_err[-2000:]}"),
            )
            print(f"\n[{case.name}] Flagger {doc.get('verdict')} in {wall:.1f} s", file=sys.stderr)
            if case.name == "errors" and "healthy" in out and not error:
                # Read now: a later case that changes the gates changes the rule files,
                # which recreates Prometheus' pod and its emptyDir TSDB.
                out["errors"].panels = _read_panels(out["healthy"], out["errors"])
            if case.name == ALERT_CASE and not error:
                _read_sink(out[case.name])
        yield out
    finally:
        walls = ", ".join(
            f"{n} {r.flagger.get('verdict', r.error[:60])} {r.wall_s:.0f} s" for n, r in out.items()
        )
        figures.append(
            f"Flagger tier: cluster up {up_s:.0f} s; {walls}; total "
            f"{time.monotonic() - tier_started:.0f} s"
        )
        if not was_running:
            lifecycle.down(say)


def say(line: str) -> None:
    print(line, file=sys.stderr)


def _ok(result: Result | None) -> Result:
    if result is None:
        pytest.skip(f"case not selected by {ONLY_ENV}")
    assert not result.error, result.error
    return result


# --- §1/§2: the verdicts, from Flagger ----------------------------------------------------


def test_healthy_release_is_promoted_by_flagger(results: dict[str, Result]) -> None:
    r = _ok(results.get("healthy"))
    assert r.exit_code == EXIT_PROMOTED, r.verdict_doc
    assert r.flagger["phase"] == "Succeeded"
    assert r.verdict_doc["as_expected"] and r.verdict_doc["engine"] == "flagger"
    version = r.flagger["options"]["canary"]["version"]
    # The primary runs the new version: its Deployment, and every answer after the verdict.
    assert r.primary_env.get("ORDER_API_VERSION") == version
    # The primary's HPA, which Flagger copied from ours, reads the pods' CPU from
    # metrics-server (a quantity such as "4m", never absent or 0).
    cpu = r.primary_hpa_cpu.get("averageValue", "0")
    assert cpu not in ("0", "0m") and "averageUtilization" in r.primary_hpa_cpu, r.primary_hpa_cpu
    assert set(r.flagger["after_verdict"]["by_version"]) == {version}
    # Flagger leaves a 0 weight out of the TraefikService.
    routes = r.flagger["final_routes"]
    assert routes[PRIMARY_BACKEND] == 100 and routes.get(CANARY_BACKEND, 0) == 0, routes
    # The measuring client saw no failed request during the whole rollout, promotion included.
    load = r.flagger["load_total"]
    assert load["sent"] > 500 and load["failed"] == 0, load
    assert set(load["by_version"]) == {version, r.flagger["options"]["primary"]["version"]}
    # The canary took traffic at every weight: the weights Flagger set reached maxWeight.
    assert r.flagger["max_canary_weight"] == MAX_WEIGHT
    assert '<testcase classname="canary-rehearsal.verdict"' in r.junit
    assert "<failure" not in r.junit


@pytest.mark.parametrize("name", ["healthy", "errors"])
def test_order_api_pods_end_by_sigterm_and_drain(
    results: dict[str, Result], name: str, figures: list[str]
) -> None:
    """Every order-api pod deleted during the run (the canary scaled to zero, the old
    primary pods replaced at promotion) ran the built image under runc and ended as
    Kubernetes asks: SIGTERM, then order-api's shutdown delay and drain, exit 0,
    inside the grace period."""
    from cluster import layout
    from cluster.node import pod_stops

    r = _ok(results.get(name))
    app = load_config(env={}).app
    stops = [
        s
        for s in pod_stops(layout.paths())
        if s.namespace == NAMESPACE
        and s.pod.startswith(f"{CANARY}-")
        # The scale-down comes with the verdict; the pods' deletion reaches the node
        # just after it (the next case only scales pods up at its start).
        and r.started_at <= s.signalled <= r.ended_at + 30
    ]
    canary = [s for s in stops if not s.pod.startswith(f"{CANARY}-primary-")]
    assert canary, f"no canary pod was stopped during the {name} run: {stops}"
    if name == "healthy":  # promotion rolls the primary to the new spec
        assert len(stops) > len(canary), stops
    for stop in stops:
        assert stop.exit_code == 0 and not stop.killed, stop
        assert stop.container_id.startswith("runc://"), stop  # the built image, not the program
        # Readiness 503 at once, then the shutdown delay, then the drain.
        assert app.shutdown_delay_s <= stop.after_s < stop.grace_s, stop
        assert stop.grace_s == app.termination_grace_s, stop
    after = sorted(s.after_s for s in stops)
    figures.append(
        f"{name}: {len(stops)} order-api pods ({len(canary)} canary) ended by SIGTERM, "
        f"exit 0, {after[0]:.1f}-{after[-1]:.1f} s after it (grace {stops[0].grace_s:g} s)"
    )


@pytest.mark.parametrize("name", ["errors", "latency"])
def test_faulty_release_is_rolled_back_by_flagger(results: dict[str, Result], name: str) -> None:
    r = _ok(results.get(name))
    assert r.exit_code == EXIT_ROLLED_BACK, r.verdict_doc
    assert r.flagger["phase"] == "Failed" and r.verdict_doc["as_expected"]
    assert r.flagger["max_canary_weight"] < MAX_WEIGHT  # failed before passing maxWeight
    primary = r.flagger["options"]["primary"]["version"]
    assert r.primary_env.get("ORDER_API_VERSION") == primary  # the primary kept its version
    assert set(r.flagger["after_verdict"]["by_version"]) == {primary}  # all traffic back
    routes = r.flagger["final_routes"]
    assert routes[PRIMARY_BACKEND] == 100 and routes.get(CANARY_BACKEND, 0) == 0, routes
    failed = [m for t in r.flagger["ticks"] for m in t["metrics"] if not m["passed"]]
    assert failed, "a rollback without a failed metric"
    gate = "request-success-rate" if name == "errors" else "request-duration"
    assert failed[0]["name"] == gate and failed[0]["value"] is not None


def test_a_metric_query_error_is_a_failed_check_on_flagger(results: dict[str, Result]) -> None:
    """Flagger's answer to a query Prometheus refuses: "Metric query failed", a failed
    check at every tick, then the rollback; the built-in metrics before it pass."""
    r = _ok(results.get("query-error"))
    assert r.flagger["verdict"] == ROLLED_BACK and r.flagger["max_canary_weight"] < MAX_WEIGHT
    failed = [m for t in r.flagger["ticks"] for m in t["metrics"] if not m["passed"]]
    assert len(failed) == THRESHOLD, failed
    assert {m["name"] for m in failed} == {"error-rate"}, failed
    assert all(m["value"] is None and "query failed" in m["verdict"] for m in failed), failed


def test_the_canary_before_the_load_test_fix_on_flagger(
    results: dict[str, Result], figures: list[str]
) -> None:
    """What the real Flagger does with the gapped Canary (only the rollout webhook's
    `hey`, a little longer than the interval): its first analysis finds no traffic,
    and so does every second one, until five failed checks roll it back."""
    r = _ok(results.get("before-fix"))
    ticks = r.flagger["ticks"]
    analysed = [t for t in ticks if t["stage"] == "analysis"]
    assert analysed and analysed[0]["metrics"][0]["verdict"] == "no values found"
    no_values = sum(1 for t in analysed if t["metrics"] and t["metrics"][-1]["value"] is None)
    assert no_values == THRESHOLD and r.flagger["verdict"] == ROLLED_BACK, r.flagger["verdict"]
    figures.append(f"before the fix: {r.flagger['verdict']}, {no_values} x no values found")
    # The fixed Canary (the healthy case) never saw an empty window.
    fixed = _ok(results.get("healthy")).flagger["ticks"]
    assert all(m["value"] is not None for t in fixed for m in t["metrics"])


# --- §3: the model agrees with Flagger ---------------------------------------------------


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_the_model_agrees_with_flagger(
    results: dict[str, Result], name: str, figures: list[str]
) -> None:
    r = _ok(results.get(name))
    assert r.model, "the model engine wrote no report"
    noise = frozenset() if r.case.scenario == "latency" else LATENCY_CHECKS
    result = compare(r.model, r.flagger, noise=noise, same_failure=ERROR_GATES)
    figures.append(f"model vs Flagger [{name}]\n  " + "\n  ".join(result.lines()))
    assert result.agree, [*result.differences, *_failed_checks(r.flagger)]
    assert r.flagger["verdict"] == r.case.expect


def _failed_checks(report: dict[str, Any]) -> list[str]:
    """What Flagger saw at each failed check, to tell noise from a real difference."""
    return [
        f"Flagger at {t['canary_weight']} %: {m['name']} {m.get('verdict')}"
        for t in report.get("ticks", [])
        if t.get("passed") is False
        for m in t.get("metrics", [])
        if not m["passed"]
    ]


# --- §4: the dashboard's Flagger panels on Flagger's own metrics -------------------------


def _prometheus() -> Any:
    from cluster.layout import NETNS
    from rehearsal.oncluster.flagger_engine import ClusterPrometheus, _service_address
    from rehearsal.oncluster.netns_threads import NetnsExecutor

    config = load_config(env={})
    executor = NetnsExecutor(NETNS)
    address = _service_address(
        config.namespace, config.monitoring.prometheus_service, config.monitoring.prometheus_port
    )
    return ClusterPrometheus(executor, address)


def _panel(expr: str, r: Result, *, at: float) -> str:
    """A panel's expression with $__range from the apply to `at`: a dashboard zoomed on
    the rollout (Prometheus may have been recreated just before the apply)."""
    applied = r.flagger["durations"]["analysis_started_at"]
    return q.render_dashboard_query(
        expr,
        app=CANARY,
        namespace=NAMESPACE,
        rate_interval="10s",
        range_=prometheus_duration(at - applied),
        interval="2s",
    )


def _read_panels(healthy: Result, errors: Result) -> dict[str, Any]:
    """Every Flagger panel's expression, evaluated over the runs that just ended."""
    prom = _prometheus()
    try:
        h, e = healthy.ended_at, errors.ended_at
        return {
            "promotions_healthy": prom.query(_panel(q.CANARY_PROMOTIONS, healthy, at=h), at=h),
            "rollbacks_healthy": prom.query(_panel(q.CANARY_ROLLBACKS, healthy, at=h), at=h),
            "rollbacks_errors": prom.query(_panel(q.CANARY_ROLLBACKS, errors, at=e), at=e),
            "promotions_errors": prom.query(_panel(q.CANARY_PROMOTIONS, errors, at=e), at=e),
            "phase_healthy": prom.query(_panel(q.CANARY_PHASE, healthy, at=h), at=h),
            "phase_errors": prom.query(_panel(q.CANARY_PHASE, errors, at=e), at=e),
            "weight_healthy": prom.query_range(
                _panel(q.CANARY_WEIGHT, healthy, at=h), start=healthy.started_at, end=h, step=2
            ),
            "table_healthy": prom.query(_panel(q.CANARY_ANALYSIS_TABLE, healthy, at=h), at=h),
        }
    finally:
        prom.executor.close()


def test_flagger_panels_read_flaggers_own_exporter(results: dict[str, Result]) -> None:
    healthy, errors = _ok(results.get("healthy")), _ok(results.get("errors"))
    panels = errors.panels
    assert panels, "the panels were not read after the errors run"
    # Rollouts: each run's own rollout, counted over that run's range.
    assert [v for _, v in panels["promotions_healthy"]] == [1.0], panels["promotions_healthy"]
    assert [v for _, v in panels["rollbacks_healthy"]] == [0.0]
    assert [v for _, v in panels["rollbacks_errors"]] == [1.0], panels["rollbacks_errors"]
    assert [v for _, v in panels["promotions_errors"]] == [0.0]
    # Phase: flagger_canary_status 1 after the promotion, 2 after the rollback.
    assert [v for _, v in panels["phase_healthy"]] == [1.0]
    assert [v for _, v in panels["phase_errors"]] == [2.0]
    # Weight: Flagger's canary weight over the healthy run peaks at maxWeight, in percent.
    weight = panels["weight_healthy"]
    assert weight and max(v for _, v in weight[0][1]) == MAX_WEIGHT
    # The analysis table: one row per metric, each in its own unit, read from Flagger.
    rows = {
        labels["metric"]: (labels.get(q.ANALYSIS_UNIT_LABEL), value)
        for labels, value in panels["table_healthy"]
    }
    last = next(t for t in reversed(healthy.flagger["ticks"]) if t["metrics"])
    assert set(rows) == {m["name"] for m in last["metrics"]}
    for m in last["metrics"]:
        unit, value = rows[m["name"]]
        assert value == pytest.approx(m["value"], rel=1e-6), (m["name"], rows)
        assert unit == {"request-success-rate": "%", "error-rate": "%"}.get(m["name"], "ms")
    assert 1.0 <= rows["request-duration"][1] <= 500.0  # ms, not Flagger's seconds


# --- §5: a rollback and a firing alert reach the on-call webhook ---------------------------


def _unix(stamp: str) -> float:
    """Alertmanager's RFC 3339 time (nanoseconds, Z) as unix seconds."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", stamp).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


@dataclass(frozen=True)
class AlertProof:
    """What the sink got for one run, by path: Flagger's event webhook, Flagger's
    AlertProvider and Alertmanager's webhook (firing alerts that started in the run)."""

    events: list[dict[str, Any]]
    provider: list[dict[str, Any]]
    firing: dict[tuple[str, str | None], dict[str, Any]]
    receivers: set[str]


def _alert_proof(records: list[dict[str, Any]], started_at: float) -> AlertProof:
    config = sink_config()
    by_path: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_path.setdefault(record["path"], []).append(record["body"])
    notifications = by_path.get(ALERTMANAGER_PATH, [])
    firing = {
        (a["labels"]["alertname"], a["labels"].get("app")): a
        for n in notifications
        for a in n["alerts"]
        if a["status"] == "firing" and _unix(a["startsAt"]) >= started_at
    }
    return AlertProof(
        events=by_path.get(events_path(config), []),
        provider=by_path.get(FLAGGER_ALERTS_PATH, []),
        firing=firing,
        receivers={n["receiver"] for n in notifications},
    )


def _rollback_event(proof: AlertProof) -> list[dict[str, Any]]:
    said = f"Canary failed! Scaling down {CANARY}.{NAMESPACE}"
    return [e for e in proof.events if e.get("metadata", {}).get("eventMessage") == said]


def _rollback_alert(proof: AlertProof) -> list[dict[str, Any]]:
    said = f"Failed checks threshold reached {THRESHOLD}"
    return [m for m in proof.provider if any(a["text"] == said for a in m["attachments"])]


def _proven(proof: AlertProof) -> bool:
    wanted = {(alerts.HIGH_ERROR_RATE, CANARY), (alerts.ROLLED_BACK, None)}
    return bool(_rollback_event(proof) and _rollback_alert(proof) and wanted <= set(proof.firing))


def _read_sink(r: Result) -> None:
    """The sink's records, once every awaited message is in (the alerts trail the verdict)."""
    from cluster.layout import NETNS
    from rehearsal.measure.http_probe import http_get
    from rehearsal.oncluster.flagger_engine import _service_address
    from rehearsal.oncluster.netns_threads import NetnsExecutor

    a = sink_config().alerts
    started = r.flagger["durations"]["analysis_started_at"]
    executor = NetnsExecutor(NETNS)
    try:
        address = _service_address(NAMESPACE, a.receiver_app, a.receiver_port)
        r.sink, r.sink_wait_s = wait_for_records(
            lambda url: executor.run(http_get, url, timeout=5.0),
            address,
            lambda records: _proven(_alert_proof(records, started)),
            timeout_s=SINK_TIMEOUT_S,
        )
        if not _proven(_alert_proof(r.sink, started)):
            r.alert_states = _alert_states(executor)
    finally:
        executor.close()


def _alert_states(executor: Any) -> dict[str, Any]:
    """Prometheus' ALERTS and Alertmanager's alerts, read before the cluster goes."""
    from rehearsal.measure.http_probe import http_get
    from rehearsal.oncluster.flagger_engine import _service_address

    config = load_config(env={})
    m, a = config.monitoring, config.alerts
    states: dict[str, Any] = {}
    for name, service, port, path in (
        ("prometheus", m.prometheus_service, m.prometheus_port, "/api/v1/query?query=ALERTS"),
        ("alertmanager", a.alertmanager_service, a.alertmanager_port, "/api/v2/alerts"),
    ):
        try:
            url = f"http://{_service_address(NAMESPACE, service, port)}{path}"
            states[name] = executor.run(http_get, url, timeout=5.0)[1].decode()[:3000]
        except Exception as exc:  # a diagnostic only
            states[name] = f"{type(exc).__name__}: {exc}"
    return states


def test_a_rollback_and_a_firing_alert_reach_the_on_call_webhook(
    results: dict[str, Result], figures: list[str]
) -> None:
    """The real Flagger's rollback reaches the sink through its event webhook and its
    AlertProvider (Slack's JSON, the address from the Secret); the canary's error-rate
    alert fired during the release and the rollback alert after it reach the sink
    through the real Alertmanager, runbook links included."""
    r = _ok(results.get(ALERT_CASE))
    assert r.flagger["verdict"] == ROLLED_BACK
    started = r.flagger["durations"]["analysis_started_at"]
    verdict_at = started + r.flagger["durations"]["real_s"]
    proof = _alert_proof(r.sink, started)
    paths = sorted({rec["path"] for rec in r.sink})
    # Flagger's event webhook: the rollback as Flagger says it, in phase Failed.
    (event,) = _rollback_event(proof) or [None]
    assert event is not None, (paths, [e.get("metadata") for e in proof.events])
    assert (event["name"], event["namespace"], event["phase"]) == (CANARY, NAMESPACE, "Failed")
    # Flagger's AlertProvider (severity error): one message per rollback, in its channel.
    (message,) = _rollback_alert(proof) or [None]
    assert message is not None, (paths, proof.provider)
    assert message["channel"] == sink_config().alerts.flagger_channel
    assert message["attachments"][0]["author_name"] == f"{CANARY}.{NAMESPACE}"
    assert message["attachments"][0]["color"] == "danger"
    # Alertmanager: the canary track's error rate fired during the release; the
    # rollback alert fired after the verdict; both on the on-call receiver.
    errors = proof.firing.get((alerts.HIGH_ERROR_RATE, CANARY))
    rolled_back = proof.firing.get((alerts.ROLLED_BACK, None))
    assert errors and rolled_back, (paths, sorted(proof.firing), r.alert_states)
    assert started <= _unix(errors["startsAt"]) < verdict_at
    assert _unix(rolled_back["startsAt"]) >= verdict_at - 2 * CONTROL_LOOP_S
    assert proof.receivers == {ON_CALL}
    for alert in (errors, rolled_back):
        anchor = alerts.runbook_anchor(alert["labels"]["alertname"])
        assert alert["annotations"]["runbook_url"].endswith(f"#{anchor}")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
    # No other track fired: the primary served no 5xx.
    assert (alerts.HIGH_ERROR_RATE, app_names(load_config(env={})).primary) not in proof.firing
    figures.append(
        f"alert proof [{ALERT_CASE}]: Flagger's rollback event and AlertProvider message, "
        f"{alerts.HIGH_ERROR_RATE} (fired {_unix(errors['startsAt']) - started:.0f} s into "
        f"the release) and {alerts.ROLLED_BACK} at the sink; the wait after the run "
        f"{r.sink_wait_s:.1f} s"
    )
