"""`python -m rehearsal` for real: order-api, Traefik and Prometheus processes.

The scenario runs start at once (one module fixture, four subprocesses) at high
speed; the tests then read their exit status, output and report.json. They
rehearse two variants of the Canary in dist/ (tests/rehearsal/canaries.py):
`continuous` (the load outlasts the analysis: the fix of issue 8) for the three
scenarios, and `gapped` (load only from the rollout webhook for one interval)
for a healthy release, which the gaps roll back. Every run carries a unique
marker in its environment, which every process it starts inherits, so the
tests can prove that nothing it started is left running, and a private
TMPDIR, to prove its temporary files are gone.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rehearsal.model.workdir import PREFIX
from rehearsal.report.report_files import CHARTS
from rehearsal.report.verdict import EXIT_PROMOTED, EXIT_ROLLED_BACK
from rehearsal.spec.scenarios import PROMOTED, SCENARIOS
from stack.config import load_config
from stack.names import CANARY, PRIMARY, app_names
from tests.rehearsal.canaries import variant
from tests.support.prerequisites import require_binary

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
# 60 s interval -> 2 s ticks, 2 s metric windows (4 scrapes at 0.5 s).
SPEED = "30"
# Real orders/s of the load command: 10 % of 60/s over 2 s is ~12 canary orders
# per window, so a 20 % fault rate passes a window by chance with p ~ 0.07 and
# five such passes before five failures are out of reach. Four runs share 2 cores.
RATE = "60"
PRIMARY_VERSION, CANARY_VERSION = "1.0.0", "1.1.0"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CONFIG = load_config(env={})
BACKEND = {
    track: app_names(_CONFIG).traefik_backend(track, _CONFIG.app.service_port)
    for track in (PRIMARY, CANARY)
}
# (name, Canary variant, scenario)
RUNS = [
    ("healthy", "continuous", "healthy"),
    ("errors", "continuous", "errors"),
    ("latency", "continuous", "latency"),
    ("gapped", "gapped", "healthy"),
]


@pytest.fixture(scope="module", autouse=True)
def _binaries() -> None:
    require_binary("prometheus", "make toolchain")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    tmpdir: Path
    marker: str
    report_dir: Path | None = None
    extra: dict[str, Path] = field(default_factory=dict)

    @property
    def report(self) -> dict[str, Any]:
        assert self.report_dir is not None
        return json.loads((self.report_dir / "report.json").read_text())


def expected_exit(scenario: str) -> int:
    return EXIT_PROMOTED if SCENARIOS[scenario].expect == PROMOTED else EXIT_ROLLED_BACK


def marked_processes(marker: str) -> list[str]:
    """Live processes whose environment carries `marker` (pid: command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


def _env(tmpdir: Path, marker: str, **extra: str) -> dict[str, str]:
    tmpdir.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmpdir), "REHEARSAL_TEST_MARKER": marker, **extra}


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "rehearsal", *args]


def rehearse(tmp: Path, *args: str, timeout: float = 120, **env: str) -> Run:
    marker = uuid.uuid4().hex
    proc = subprocess.run(
        _argv(*args),
        cwd=ROOT,
        env=_env(tmp / "tmp", marker, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, tmp / "tmp", marker)


def wait_cleaned_up(run: Run) -> None:
    deadline = time.monotonic() + 5
    while marked_processes(run.marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marked_processes(run.marker) == [], "processes left behind"


def assert_cleaned_up(run: Run) -> None:
    wait_cleaned_up(run)
    assert list(run.tmpdir.iterdir()) == [], "temporary files left behind"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The four runs, started at once and awaited together."""
    started: dict[str, tuple[subprocess.Popen[str], Run]] = {}
    for name, kind, scenario in RUNS:
        tmp = tmp_path_factory.mktemp(name)
        dist = variant(tmp, kind)
        marker = uuid.uuid4().hex
        run = Run(-1, "", "", tmp / "tmp", marker, report_dir=tmp / "report")
        args = [
            f"--dist={dist}",
            f"--scenario={scenario}",
            f"--speed={SPEED}",
            f"--rate={RATE}",
            f"--primary-version={PRIMARY_VERSION}",
            f"--canary-version={CANARY_VERSION}",
            f"--report={run.report_dir}",
        ]
        if name == "healthy":
            args.append("--json")
        if name == "errors":
            run.extra["junit"] = tmp / "ci" / "junit.xml"
            args.append(f"--junit={run.extra['junit']}")
        proc = subprocess.Popen(
            _argv(*args),
            cwd=ROOT,
            env=_env(run.tmpdir, marker),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[name] = (proc, run)
    for proc, run in started.values():
        run.stdout, run.stderr = proc.communicate(timeout=180)
        run.returncode = proc.returncode
    return {name: run for name, (_, run) in started.items()}


def _hooks(tick: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [h for h in tick["hooks"] if h["name"] == name]


@pytest.mark.parametrize("name", [r[0] for r in RUNS])
def test_verdict_exit_code_and_cleanup(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    scenario = dict((r[0], r[2]) for r in RUNS)[name]
    want = expected_exit(scenario) if name != "gapped" else EXIT_ROLLED_BACK
    assert run.returncode == want, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    ticks = run.report["ticks"]
    console = run.stderr if name == "healthy" else run.stdout  # --json: progress on stderr
    progress = [line for line in console.splitlines() if line.startswith("tick ")]
    assert len(progress) == len(ticks)
    assert all("weight" in line and "failed checks" in line for line in progress)
    assert "verdict" in console.splitlines() and "decided by" in console
    assert run.report["durations"]["simulated_s"] == ticks[-1]["simulated_s"]
    assert_cleaned_up(run)


def test_json_prints_one_machine_readable_verdict(runs: dict[str, Run]) -> None:
    run = runs["healthy"]
    (line,) = run.stdout.splitlines()
    doc = json.loads(line)
    assert (doc["verdict"], doc["exit_code"], doc["as_expected"]) == ("promoted", 0, True)
    assert doc["ticks"] == len(run.report["ticks"]) and doc["orders"]["failed"] == 0


def test_junit_has_every_metric_and_the_verdict(runs: dict[str, Run]) -> None:
    run = runs["errors"]
    suite = ET.parse(run.extra["junit"]).getroot()
    names = [c.get("name", "") for c in suite.iter("testcase")]
    metrics = [m["name"] for m in run.report["canary"]["metrics"]]
    assert sorted(names[:-1]) == sorted(metrics) and names[-1].endswith("verdict")
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert "request-success-rate" in failed
    assert names[-1] not in failed  # a rollback was the expected verdict


def test_continuous_load_promotes_a_healthy_release_without_a_failed_request(
    runs: dict[str, Run],
) -> None:
    report = runs["healthy"].report
    ticks = report["ticks"]
    assert report["verdict"] == "promoted"
    assert [t["phase"] for t in ticks][-3:] == ["Promoting", "Finalising", "Succeeded"]
    assert report["max_canary_weight"] == report["canary"]["max_weight"]
    # The load starts at the pre-rollout tick; every rollout call is then dropped.
    (start_tick,) = [t for t in ticks if _hooks(t, "load-test-start")]
    assert start_tick["stage"] == "pre-rollout" and start_tick["canary_weight"] > 0
    assert _hooks(start_tick, "load-test-start")[0]["load_started"] is True
    rollout_calls = [h for t in ticks for h in _hooks(t, "load-test")]
    assert rollout_calls and all(h["load_started"] is False for h in rollout_calls)
    assert all(m["verdict"] != "no values found" for t in ticks for m in t["metrics"])
    assert all(t["load_coverage"] > 0.9 for t in ticks if t["stage"] == "analysis")
    (window,) = report["load_windows"]
    assert window["start_s"] <= start_tick["real_s"]
    load = report["load_total"]
    assert load["failed"] == 0 and load["errors"] == {}, load
    assert set(load["by_status"]) == {"201"}
    assert load["by_version"].get(CANARY_VERSION, 0) > 0
    after = report["after_verdict"]
    assert set(after["by_version"]) == {CANARY_VERSION} and after["sent"] > 0
    assert report["final_routes"][BACKEND[CANARY]] == 0


def test_gapped_load_rolls_back_a_healthy_release(runs: dict[str, Run]) -> None:
    """Load only from the rollout webhook, for one interval: the first window has
    none, and every second call is dropped, so every other window has none."""
    report = runs["gapped"].report
    ticks = report["ticks"]
    assert report["verdict"] == "rolled back" and report["options"]["canary"]["env"] == {}
    analysed = [t for t in ticks if t["stage"] == "analysis"]
    started = [_hooks(t, "load-test")[0]["load_started"] for t in analysed]
    assert started == [i % 2 == 0 for i in range(len(analysed))]  # started, dropped, ...
    for tick, began in zip(analysed, started, strict=True):
        values = {m["verdict"] for m in tick["metrics"] if m["name"] == "request-success-rate"}
        assert (values == {"no values found"}) is began, tick
        # A call that starts load comes after a window without any; a dropped one after load.
        assert (tick["load_coverage"] < 0.1) if began else (tick["load_coverage"] > 0.9), tick
    assert "no hey command was running" in runs["gapped"].stdout
    # Flagger's rollback leaves 0 failed checks in the status; the tick before read 5.
    assert ticks[-2]["failed_checks"] == report["canary"]["threshold"]
    assert ticks[-1]["failed_checks"] == 0
    windows = report["load_windows"]
    gaps = [b["start_s"] - a["end_s"] for a, b in itertools.pairwise(windows)]
    interval = 60 / float(SPEED)
    assert gaps and all(gap > 0.8 * interval for gap in gaps), windows
    assert report["load_total"]["failed"] == 0  # nothing was wrong with the release


@pytest.mark.parametrize("scenario", ["errors", "latency"])
def test_faulty_canary_is_rolled_back_and_traffic_returns_to_primary(
    runs: dict[str, Run], scenario: str
) -> None:
    report = runs[scenario].report
    assert report["verdict"] == "rolled back"
    ticks = report["ticks"]
    assert ticks[-1]["phase"] == "Failed"
    assert "Promoting" not in {t["phase"] for t in ticks}
    assert report["max_canary_weight"] < report["canary"]["max_weight"]
    failed_metrics = {m["name"] for t in ticks for m in t["metrics"] if not m["passed"]}
    expected = "request-success-rate" if scenario == "errors" else "request-duration"
    assert expected in failed_metrics
    # Flagger's rollback leaves 0 failed checks in the status; the tick before read 5.
    assert ticks[-2]["failed_checks"] == report["canary"]["threshold"]
    assert ticks[-1]["failed_checks"] == 0
    after = report["after_verdict"]
    assert set(after["by_version"]) == {PRIMARY_VERSION} and after["sent"] > 0
    assert report["final_routes"][BACKEND[CANARY]] == 0
    assert report["final_routes"][BACKEND[PRIMARY]] == 100


def test_errors_scenario_injected_real_500s(runs: dict[str, Run]) -> None:
    load = runs["errors"].report["load_total"]
    assert load["by_status"].get("500", 0) > 0


def test_report_files(runs: dict[str, Run]) -> None:
    run = runs["errors"]
    assert run.report_dir is not None
    markdown = (run.report_dir / "report.md").read_text()
    assert "rolled back" in markdown and "Decided by" in markdown
    charts = run.report["charts"]
    assert [c["file"] for c in charts] == [c.file for c in CHARTS]
    # The error-rate chart uses the window the analysis judged (2 s at speed 30).
    assert next(c for c in charts if c["file"] == "error-rate.png")["window"] == "2s"
    for chart in charts:
        png = (run.report_dir / chart["file"]).read_bytes()
        assert png.startswith(PNG_SIGNATURE), chart["file"]
        assert len(png) > 8_000, f"{chart['file']} looks empty ({len(png)} bytes)"
        assert f"]({chart['file']})" in markdown
        assert all(s["points"] > 0 for s in chart["series"]), chart


# --- signals, kills and stalls ---------------------------------------------------


def _stream(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], prefix: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if lines.get(timeout=0.5).startswith(prefix):
                return
        except queue.Empty:
            pass
    raise AssertionError(f"no line starting with {prefix!r} in {timeout:.0f}s")


@dataclass
class Running:
    proc: subprocess.Popen[str]
    lines: queue.Queue[str]
    run: Run
    # stderr is read all along: a child blocked on a full pipe would otherwise
    # look like one that ignores its signal.
    stderr: list[str] = field(default_factory=list)
    stderr_reader: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        self.stderr_reader = threading.Thread(
            target=lambda: self.stderr.extend(stream), daemon=True
        )
        self.stderr_reader.start()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    marker = uuid.uuid4().hex
    dist = variant(tmp_path, "continuous")
    report_dir = tmp_path / "report"
    proc = subprocess.Popen(
        _argv(f"--dist={dist}", f"--speed={SPEED}", f"--rate={RATE}", f"--report={report_dir}"),
        cwd=ROOT,
        env=_env(tmp_path / "tmp", marker),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = Run(-1, "", "", tmp_path / "tmp", marker, report_dir=report_dir)
    try:
        yield Running(proc, _stream(proc), run)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _finish(r: Running) -> Run:
    r.run.returncode = r.proc.wait(timeout=60)
    r.stderr_reader.join(timeout=10)
    r.run.stderr = "".join(r.stderr)
    return r.run


def test_killed_traefik_stops_the_rehearsal_with_exit_2(running: Running) -> None:
    _wait_for(running.lines, "tick  3")
    traefik = [p for p in marked_processes(running.run.marker) if p.split()[1].endswith("traefik")]
    assert len(traefik) == 1, marked_processes(running.run.marker)
    os.kill(int(traefik[0].split(":")[0]), signal.SIGKILL)
    run = _finish(running)
    assert run.returncode == 2
    assert "could not run: traefik exited unexpectedly" in run.stderr
    assert "Traceback" not in run.stderr
    assert_cleaned_up(run)


def test_a_stall_drops_missed_ticks_and_ctrl_c_writes_a_partial_report(
    running: Running,
) -> None:
    interval = 60 / float(SPEED)
    _wait_for(running.lines, "tick  3")
    running.proc.send_signal(signal.SIGSTOP)  # a suspended laptop
    time.sleep(2.6 * interval)
    running.proc.send_signal(signal.SIGCONT)
    _wait_for(running.lines, "tick  5")
    running.proc.send_signal(signal.SIGINT)
    run = _finish(running)
    assert run.returncode == 130, run.stderr
    assert "interrupted" in run.stderr and "Traceback" not in run.stderr
    ticks = run.report["ticks"]  # the partial report, with what ran
    assert len(ticks) >= 5 and run.report["verdict"] == "interrupted"
    assert sum(t["dropped_ticks"] for t in ticks) >= 1
    # No burst: each tick takes the next slot after the dropped ones, at or after its time.
    for a, b in itertools.pairwise(ticks):
        assert b["slot"] == a["slot"] + 1 + b["dropped_ticks"], (a, b)
    assert all(t["real_s"] >= t["slot"] * interval - 0.05 for t in ticks)
    assert_cleaned_up(run)


def test_sighup_stops_every_process(running: Running) -> None:
    _wait_for(running.lines, "tick  2")
    running.proc.send_signal(signal.SIGHUP)
    run = _finish(running)
    assert run.returncode == 130 and "SIGHUP" in run.stderr
    assert_cleaned_up(run)


def test_sigkill_takes_the_children_and_the_next_run_removes_the_folder(
    running: Running, tmp_path: Path
) -> None:
    _wait_for(running.lines, "tick  2")
    running.proc.kill()
    running.proc.wait()
    wait_cleaned_up(running.run)  # the kernel killed every child
    (left,) = [p for p in running.run.tmpdir.iterdir() if p.name.startswith(PREFIX)]
    # The next run (here a canary that cannot boot: a failed release, exit 1) cleans up.
    dist = variant(tmp_path / "next", "continuous")
    nxt = rehearse(
        tmp_path,
        f"--dist={dist}",
        "--canary-env=ORDER_API_FAULT_ERROR_RATE=banana",
        timeout=60,
        TMPDIR=str(running.run.tmpdir),
    )
    assert nxt.returncode == 1, nxt.stdout + nxt.stderr
    assert "did not boot" in nxt.stdout and "ORDER_API_FAULT_ERROR_RATE" in nxt.stdout
    assert f"removed the folder of a rehearsal that died: {left}" in nxt.stdout
    assert not left.exists() and list(running.run.tmpdir.iterdir()) == []


def test_missing_prometheus_names_the_fix(tmp_path: Path) -> None:
    # An empty toolchain cache: no Prometheus was built, and no system copy is used.
    empty = tmp_path / "no-toolchain"
    empty.mkdir()
    run = rehearse(tmp_path, timeout=60, ORDER_API_SRE_CACHE=str(empty))
    assert run.returncode == 2
    assert "prometheus not found" in run.stderr
    assert "python -m toolchain build prometheus" in run.stderr
    assert "Traceback" not in run.stderr
    assert_cleaned_up(run)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--speed=1000",), "too fast"),
        (("--dist=does-not-exist",), "make synth"),
        (("--canary-env=NOEQUALS",), "KEY=VALUE"),
        (("--canary=nope",), "Canaries found: order-api"),
        (("--report=/proc/no-such-report",), "--report /proc/no-such-report: cannot write"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    run = rehearse(tmp_path, *args, timeout=60)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_report_png_has_drawn_lines(runs: dict[str, Run]) -> None:
    import matplotlib.image

    run = runs["healthy"]
    assert run.report_dir is not None
    pixels = matplotlib.image.imread(run.report_dir / "traffic-split.png")
    colours = {tuple(p) for row in pixels[::4] for p in row[::4]}
    assert len(colours) > 20  # axes, text, two stacked areas and the weight line
