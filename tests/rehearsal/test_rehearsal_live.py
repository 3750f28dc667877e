"""`python -m rehearsal` for real: order-api, Traefik and Prometheus processes.

Each scenario runs once (module-scoped) at high speed; the tests then read its
exit status, its output and its report.json. Every run carries a unique marker
in its environment, which every process it starts inherits, so the tests can
prove that nothing it started is left running, and a private TMPDIR, to prove
its temporary files are gone.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rehearsal.report import CHARTS
from stack.config import load_config
from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
# 60 s interval -> 2 s ticks, 2 s metric windows (4 scrapes at 0.5 s).
SPEED = "30"
# 10 % of 100 orders/s over 2 s: ~20 canary orders per window, so a 20 % fault
# rate passes a window by chance with probability 0.8^20 ~ 1 %.
RATE = "100"
PRIMARY_VERSION, CANARY_VERSION = "1.0.0", "1.1.0"
EXIT_CODES = {"healthy": 0, "errors": 1, "latency": 1}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CONFIG = load_config(env={})
# Traefik's services, named like Flagger's TraefikService children.
BACKEND = {
    track: f"{_CONFIG.namespace}-{_CONFIG.app.name}-{track}-{_CONFIG.app.service_port}"
    for track in ("primary", "canary")
}


@pytest.fixture(scope="module", autouse=True)
def _binaries() -> None:
    require_binary("prometheus", "apt-get install prometheus")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    tmpdir: Path
    marker: str
    report_dir: Path | None = None

    @property
    def report(self) -> dict:
        assert self.report_dir is not None
        return json.loads((self.report_dir / "report.json").read_text())


def marked_processes(marker: str) -> list[str]:
    """Live processes whose environment carries `marker` (pid: command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker.encode() in environ:
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


def assert_cleaned_up(run: Run) -> None:
    # Give the kernel a moment to reap what the rehearsal just stopped.
    deadline = time.monotonic() + 5
    while marked_processes(run.marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marked_processes(run.marker) == [], "processes left behind"
    assert list(run.tmpdir.iterdir()) == [], "temporary files left behind"


@pytest.fixture(scope="module")
def scenario_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    runs = {}
    for scenario in EXIT_CODES:
        tmp = tmp_path_factory.mktemp(scenario)
        report_dir = tmp / "report"
        run = rehearse(
            tmp,
            f"--scenario={scenario}",
            f"--speed={SPEED}",
            f"--rate={RATE}",
            f"--primary-version={PRIMARY_VERSION}",
            f"--canary-version={CANARY_VERSION}",
            f"--report={report_dir}",
        )
        run.report_dir = report_dir
        runs[scenario] = run
    return runs


@pytest.mark.parametrize("scenario", list(EXIT_CODES))
def test_scenario_verdict_and_cleanup(scenario_runs: dict[str, Run], scenario: str) -> None:
    run = scenario_runs[scenario]
    assert run.returncode == EXIT_CODES[scenario], run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    report = run.report
    ticks = report["ticks"]
    # One progress line per tick, each with the weight and the failed checks.
    progress = [line for line in run.stdout.splitlines() if line.startswith("tick ")]
    assert len(progress) == len(ticks)
    assert all("weight" in line and "failed checks" in line for line in progress)
    assert "simulated" in run.stdout and "real at speed" in run.stdout
    assert report["durations"]["simulated_s"] == len(ticks) * 60
    assert_cleaned_up(run)


def test_healthy_canary_is_promoted_without_a_failed_request(
    scenario_runs: dict[str, Run],
) -> None:
    report = scenario_runs["healthy"].report
    assert report["verdict"] == "promoted"
    phases = [t["phase"] for t in report["ticks"]]
    assert phases[-3:] == ["Promoting", "Finalising", "Succeeded"]
    assert report["max_canary_weight"] == report["canary"]["max_weight"]
    load = report["load_total"]
    # Every weight change (and the primary's roll to the new version) was seamless.
    assert load["failed"] == 0 and load["errors"] == {}, load
    assert set(load["by_status"]) == {"201"}
    assert load["by_version"].get(CANARY_VERSION, 0) > 0
    # Promoted: all traffic now reaches the new version (on the primary).
    after = report["after_verdict"]
    assert set(after["by_version"]) == {CANARY_VERSION} and after["sent"] > 0
    assert report["final_routes"][BACKEND["canary"]] == 0


@pytest.mark.parametrize("scenario", ["errors", "latency"])
def test_faulty_canary_is_rolled_back_and_traffic_returns_to_primary(
    scenario_runs: dict[str, Run], scenario: str
) -> None:
    report = scenario_runs[scenario].report
    assert report["verdict"] == "rolled back"
    ticks = report["ticks"]
    assert ticks[-1]["phase"] == "Failed"
    assert "Promoting" not in {t["phase"] for t in ticks}
    assert report["max_canary_weight"] < report["canary"]["max_weight"]
    failed_metrics = {m["name"] for t in ticks for m in t["metrics"] if not m["passed"]}
    expected = "request-success-rate" if scenario == "errors" else "request-duration"
    assert expected in failed_metrics
    assert ticks[-1]["failed_checks"] == report["canary"]["threshold"]
    # After the rollback every request reaches the primary.
    after = report["after_verdict"]
    assert set(after["by_version"]) == {PRIMARY_VERSION} and after["sent"] > 0
    assert report["final_routes"][BACKEND["canary"]] == 0
    assert report["final_routes"][BACKEND["primary"]] == 100


def test_errors_scenario_injected_real_500s(scenario_runs: dict[str, Run]) -> None:
    load = scenario_runs["errors"].report["load_total"]
    assert load["by_status"].get("500", 0) > 0


def test_report_files(scenario_runs: dict[str, Run]) -> None:
    run = scenario_runs["errors"]
    assert run.report_dir is not None
    markdown = (run.report_dir / "report.md").read_text()
    assert "rolled back" in markdown
    charts = run.report["charts"]
    assert [c["file"] for c in charts] == [c.file for c in CHARTS]
    for chart in charts:
        png = (run.report_dir / chart["file"]).read_bytes()
        assert png.startswith(PNG_SIGNATURE), chart["file"]
        assert len(png) > 8_000, f"{chart['file']} looks empty ({len(png)} bytes)"
        assert f"]({chart['file']})" in markdown
        # Every dashboard expression returned data from the live Prometheus.
        assert all(s["points"] > 0 for s in chart["series"]), chart


def test_report_png_has_drawn_lines(scenario_runs: dict[str, Run]) -> None:
    import matplotlib.image

    run = scenario_runs["healthy"]
    assert run.report_dir is not None
    pixels = matplotlib.image.imread(run.report_dir / "traffic-split.png")
    colours = {tuple(p) for row in pixels[::4] for p in row[::4]}
    assert len(colours) > 20  # axes, text, two stacked areas and the weight line


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


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str], Run]]:
    marker = uuid.uuid4().hex
    proc = subprocess.Popen(
        _argv(f"--speed={SPEED}", f"--rate={RATE}"),
        cwd=ROOT,
        env=_env(tmp_path / "tmp", marker),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = Run(-1, "", "", tmp_path / "tmp", marker)
    try:
        yield proc, _stream(proc), run
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _finish(proc: subprocess.Popen[str], run: Run) -> Run:
    run.returncode = proc.wait(timeout=60)
    assert proc.stderr is not None
    run.stderr = proc.stderr.read()
    return run


def test_killed_traefik_stops_the_rehearsal_with_exit_2(running) -> None:
    proc, lines, run = running
    _wait_for(lines, "tick  3")
    traefik = [p for p in marked_processes(run.marker) if p.split()[1].endswith("traefik")]
    assert len(traefik) == 1, marked_processes(run.marker)
    os.kill(int(traefik[0].split(":")[0]), signal.SIGKILL)
    run = _finish(proc, run)
    assert run.returncode == 2
    assert "could not run: traefik exited unexpectedly" in run.stderr
    assert "Traceback" not in run.stderr
    assert_cleaned_up(run)


def test_ctrl_c_stops_every_process(running) -> None:
    proc, lines, run = running
    _wait_for(lines, "tick  2")
    proc.send_signal(signal.SIGINT)
    run = _finish(proc, run)
    assert run.returncode == 130
    assert "interrupted" in run.stderr and "Traceback" not in run.stderr
    assert_cleaned_up(run)


def test_missing_prometheus_names_the_package(tmp_path: Path) -> None:
    # Only the venv's bin (python, traefik): no system prometheus.
    run = rehearse(tmp_path, timeout=60, PATH=str(Path(sys.executable).parent))
    assert run.returncode == 2
    assert "prometheus not found" in run.stderr
    assert "apt-get install prometheus" in run.stderr
    assert "Traceback" not in run.stderr
    assert_cleaned_up(run)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--speed=1000",), "too fast"),
        (("--dist=does-not-exist",), "make synth"),
        (("--canary-env=NOEQUALS",), "KEY=VALUE"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    run = rehearse(tmp_path, *args, timeout=60)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr
