"""Check evaluation, the exporter, the verdict/JUnit/report writers, scenarios, workdirs."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from order_api.settings import ENV_FAULT_DELAY_MS, ENV_FAULT_ERROR_RATE
from rehearsal.failures import ComponentError
from rehearsal.measure.http_probe import http_get
from rehearsal.measure.load import LoadCounts
from rehearsal.model.child_processes import write_file
from rehearsal.model.exporter import start_exporter
from rehearsal.model.workdir import OWNER_FILE, PREFIX, clean_stale
from rehearsal.outcome import HookResult, MetricResult, Options, Outcome, TickRecord, Track
from rehearsal.report.console import Console
from rehearsal.report.junit import junit_xml
from rehearsal.report.report_data import outcome_json
from rehearsal.report.report_markdown import markdown
from rehearsal.report.verdict import verdict_json, verdict_lines
from rehearsal.spec.canary_spec import load_canary
from rehearsal.spec.flagger_analysis import Action, Phase, Stage, Status, Transition
from rehearsal.spec.scenarios import SCENARIOS
from tests.rehearsal.canaries import variant

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"


# --- check evaluation -------------------------------------------------------------


def _result(value: float | None, *, lo: float | None = None, hi: float | None = None, **kw):
    return MetricResult(name="m", query="q", value=value, min=lo, max=hi, **kw)


def test_a_metric_passes_only_inside_its_range_with_a_value() -> None:
    assert _result(99.5, lo=99, unit="%").passed
    assert _result(99.5, lo=99, unit="%").verdict == "99.5 % >= 99 %"
    assert not _result(98.9, lo=99).passed
    assert _result(500, hi=500, unit="ms").passed  # the bound itself passes
    assert _result(501, hi=500, unit="ms").verdict == "501 ms > 500 ms"
    assert not _result(None, hi=500).passed
    assert _result(None, hi=500).verdict == "no values found"
    assert not _result(1.0, hi=5, error="bad_data").passed
    assert _result(3, lo=1, hi=5).passed and not _result(6, lo=1, hi=5).passed


# --- exporter ---------------------------------------------------------------------


def _scrape(address: str) -> list[str]:
    status, body = http_get(f"http://{address}/metrics")
    assert status == 200
    return [line for line in body.decode().splitlines() if not line.startswith("#")]


def test_exporter_records_what_flagger_records() -> None:
    exporter = start_exporter(target="order-api", namespace="sre-demo")
    try:
        before = _scrape(exporter.address)
        assert not any(line.startswith("flagger_canary_successes") for line in before)
        assert not any(line.startswith("flagger_canary_failures") for line in before)
        assert not any("_created" in line for line in before)
        exporter.record_metric("request-duration", 49.0, builtin=True)
        exporter.record_metric("latency-p99", 0.99, builtin=False)
        exporter.record_metric("request-success-rate", 99.5, builtin=True)
        exporter.record(Status(phase=Phase.SUCCEEDED))
        exporter.record_outcome(Phase.SUCCEEDED)
        after = _scrape(exporter.address)
        ns = 'namespace="sre-demo"'
        analysis = {
            line.split('metric="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in after
            if line.startswith("flagger_canary_metric_analysis")
        }
        # Built-in request-duration in seconds, the others as returned.
        assert analysis == {
            "request-duration": 0.049,
            "latency-p99": 0.99,
            "request-success-rate": 99.5,
        }
        successes = [line for line in after if line.startswith("flagger_canary_successes_total")]
        assert len(successes) == 1 and successes[0].endswith(" 1.0") and ns in successes[0]
        assert 'deployment_strategy="canary"' in successes[0]
        assert not any(line.startswith("flagger_canary_failures") for line in after)
        assert not any("_created" in line for line in after)
    finally:
        exporter.close()


# --- verdict, JUnit, report ------------------------------------------------------


def _outcome(*, promoted: bool) -> Outcome:
    canary = load_canary(DIST)
    options = Options(
        dist=DIST,
        speed=10,
        rate=None,
        scrape_interval_s=0.5,
        primary=Track(version="1.0.0"),
        canary=Track(version="1.1.0", env={ENV_FAULT_ERROR_RATE: "0.2"}),
        host="order-api.example.com",
        probe_body="{}",
        probe_path="/api/order",
    )
    outcome = Outcome(canary=canary, options=options, startup_s=6.0)
    status = Status(phase=Phase.PROGRESSING, canary_weight=10)
    for n in range(1, 4):
        failed = not promoted
        metrics = [
            MetricResult(
                name=m.name,
                query="q",
                value=(50.0 if failed and m.name == "request-success-rate" else 0.5),
                min=m.min,
                max=m.max,
                unit=m.unit,
            )
            for m in canary.metrics_in_flagger_order()
        ]
        after = Status(phase=Phase.PROGRESSING, canary_weight=10, failed_checks=n if failed else 0)
        outcome.ticks.append(
            TickRecord(
                tick=n,
                slot=n,
                real_s=6.0 * n,
                simulated_s=60.0 * n,
                transition=Transition(
                    before=status,
                    after=after,
                    stage=Stage.ANALYSIS,
                    passed=not failed,
                    action=Action.NONE,
                    event="Halt advancement" if failed else "Advance",
                ),
                metrics=metrics,
                hooks=[HookResult(name="load-test", passed=True, detail="load started")],
                load=LoadCounts(sent=60, by_status={"201": 60}),
                routes={},
            )
        )
        status = after
    final = Phase.SUCCEEDED if promoted else Phase.FAILED
    outcome.ticks.append(
        TickRecord(
            tick=4,
            slot=4,
            real_s=24.0,
            simulated_s=240.0,
            transition=Transition(
                before=status,
                after=Status(phase=final),
                stage=None,
                passed=None,
                action=Action.NONE,
                event="done",
            ),
            metrics=[],
            hooks=[],
            load=LoadCounts(),
            routes={},
        )
    )
    outcome.analysis_started_at, outcome.verdict_at = 1000.0, 1024.0
    outcome.load_total = LoadCounts(sent=180, by_status={"201": 170, "500": 10})
    return outcome


def _none():
    from rehearsal.spec.flagger_analysis import Action

    return Action.NONE


def test_verdict_names_the_deciding_metric_and_the_expectation() -> None:
    rolled = _outcome(promoted=False)
    doc = verdict_json(rolled, scenario="errors", expected="rolled back")
    assert (doc["verdict"], doc["exit_code"], doc["as_expected"]) == ("rolled back", 1, True)
    assert "request-success-rate 50 % < 99 %" in doc["decided_by"]
    assert doc["failed_checks"] == {"request-success-rate": 3}
    assert doc["orders"] == {"sent": 180, "failed": 10, "skipped": 0}
    lines = verdict_lines(rolled, scenario="errors", expected="rolled back")
    assert "as expected for scenario 'errors'" in lines[1] and "(exit 1)" in lines[1]
    assert not any("{" in line for line in lines)  # no dict text
    promoted = verdict_json(_outcome(promoted=True), scenario="healthy", expected="promoted")
    assert (promoted["verdict"], promoted["exit_code"]) == ("promoted", 0)


def test_junit_has_a_case_per_metric_and_one_for_the_verdict() -> None:
    rolled = _outcome(promoted=False)
    suite = ET.fromstring(junit_xml(rolled, expected=None).split("\n", 1)[1])
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    metric_names = [m.name for m in rolled.canary.metrics_in_flagger_order()]
    assert list(cases) == [*metric_names, f"{rolled.canary.name} verdict"]
    assert cases["request-success-rate"].find("failure") is not None
    assert cases["request-duration"].find("failure") is None
    assert cases[f"{rolled.canary.name} verdict"].find("failure") is not None  # wanted promoted
    expected = ET.fromstring(junit_xml(rolled, expected="rolled back").split("\n", 1)[1])
    assert expected.get("failures") == "1"  # the metric only: the rollback was expected


def test_report_markdown_and_json() -> None:
    rolled = _outcome(promoted=False)
    text = markdown(rolled, [{"title": "T", "file": "t.png"}], commit="abc123", ran_at="now")
    assert "request-success-rate (%)" in text and "request-duration (ms)" in text
    assert "weight (%)" in text and "`abc123`" in text
    assert "Decided by:" in text and "request-success-rate 50 % < 99 %" in text
    assert "{'" not in text  # no Python dict text
    assert "![T](t.png)" in text
    data = outcome_json(rolled)
    assert data["verdict"] == "rolled back" and len(data["ticks"]) == 4
    assert data["ticks"][0]["metrics"][0]["passed"] is (
        data["ticks"][0]["metrics"][0]["name"] != "request-success-rate"
    )
    assert math.isfinite(data["durations"]["real_s"])


# --- scenarios -------------------------------------------------------------------


def test_scenario_faults_follow_the_canary_gates(tmp_path: Path) -> None:
    canary = load_canary(DIST)
    assert SCENARIOS["errors"].canary_env(canary) == {ENV_FAULT_ERROR_RATE: "0.2"}
    assert SCENARIOS["latency"].canary_env(canary) == {ENV_FAULT_DELAY_MS: "700"}
    assert SCENARIOS["healthy"].canary_env(canary) == {}
    # A 1000 ms latency gate: the latency scenario must still exceed it.
    looser = variant(tmp_path, "gapped")
    path = looser / "30-canary.k8s.yaml"
    path.write_text(path.read_text().replace("max: 500", "max: 1000"))
    assert SCENARIOS["latency"].canary_env(load_canary(looser)) == {ENV_FAULT_DELAY_MS: "1400"}
    assert {s.expect for s in SCENARIOS.values()} == {"promoted", "rolled back"}


# --- workdirs and children -------------------------------------------------------


def test_the_folder_of_a_dead_run_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{PREFIX}dead"
    stale.mkdir()
    (stale / OWNER_FILE).write_text(f"{dead.pid} 1\n")
    live = tmp_path / f"{PREFIX}live"
    live.mkdir()
    stat = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
    (live / OWNER_FILE).write_text(f"{os.getpid()} {stat}\n")
    fresh = tmp_path / f"{PREFIX}starting"  # no owner yet: a run being created now
    fresh.mkdir()
    assert clean_stale(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and fresh.exists()


@pytest.mark.live
def test_children_die_when_the_rehearsal_is_killed(tmp_path: Path) -> None:
    """A ProcessGroup child gets SIGKILL from the kernel when its parent dies."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from rehearsal.model.child_processes import ProcessGroup
        group = ProcessGroup(Path({str(tmp_path)!r}))
        child = group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        print(child.popen.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert Path(f"/proc/{child_pid}").exists()
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid), "the child outlived its SIGKILLed parent"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- console and could-not-run messages ------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert Console(_Terminal()).colour
    assert not Console(io.StringIO()).colour  # a pipe or a log
    monkeypatch.setenv("NO_COLOR", "1")
    assert not Console(_Terminal()).colour


def test_lines_fit_a_terminal_and_stay_whole_in_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    term = Console(_Terminal())
    assert term.width == 40
    assert len(term.fit("x" * 100)) == 40 and term.fit("x" * 100).endswith("…")
    assert Console(io.StringIO()).fit("x" * 100) == "x" * 100


def test_a_config_file_that_cannot_be_written_names_component_and_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ComponentError, match=rf"Prometheus: cannot write {blocker}/prometheus.yml"):
        write_file(blocker / "prometheus.yml", "x", "Prometheus")
