"""The `order-api` console script and the benchmark's wrk plumbing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from order_api import __version__, bench, settings
from order_api.bench import parse_wrk
from tests.service.order_api_server import OrderApiServer, service_env
from tests.support.prerequisites import require_binary


def order_api_script() -> str:
    script = shutil.which("order-api") or str(Path(sys.executable).with_name("order-api"))
    assert Path(script).exists(), "console script not installed: pip install -e ."
    return script


@pytest.mark.live
def test_console_script_help() -> None:
    completed = subprocess.run(
        [order_api_script(), "--help"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert "--host" in completed.stdout and "--port" in completed.stdout
    assert "0.0.0.0" in completed.stdout and "8080" in completed.stdout
    # Every setting is listed; argparse may wrap the epilog anywhere.
    epilog = " ".join(completed.stdout.split())
    for name in (
        settings.ENV_VERSION,
        settings.ENV_FAULT_ERROR_RATE,
        settings.ENV_FAULT_DELAY_MS,
        settings.ENV_SHUTDOWN_DELAY_S,
        settings.ENV_DRAIN_TIMEOUT_S,
        settings.ENV_HEAD_TIMEOUT_S,
        settings.ENV_MAX_CONNECTIONS,
        settings.ENV_RESPONSE_TIMEOUT_S,
    ):
        assert name in epilog
    assert f"{settings.ENV_DRAIN_TIMEOUT_S} (>=0, default 15)" in epilog


@pytest.mark.live
@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_bad_port_is_a_usage_error(port: str) -> None:
    completed = subprocess.run(
        [order_api_script(), "--port", port], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 2
    assert "invalid port" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.live
def test_port_in_use_is_a_one_line_error() -> None:
    with OrderApiServer() as server:
        completed = subprocess.run(
            [order_api_script(), "--host", "127.0.0.1", "--port", str(server.port)],
            env=service_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert completed.returncode == 1
    assert completed.stderr.startswith(f"order-api: cannot listen on 127.0.0.1:{server.port}")
    assert "Traceback" not in completed.stderr


WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:4000/api/order
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.41ms  412.10us  12.01ms   91.23%
    Req/Sec    13.31k   512.22    14.02k    80.00%
  Latency Distribution
     50%    2.35ms
     75%    2.52ms
     90%    2.80ms
     99%  850.50us
  66220 requests in 5.00s, 15.41MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  13243.10
Transfer/sec:      3.08MB
"""


def test_parse_wrk() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result.requests_per_s == 13243.10
    assert result.p99_ms == pytest.approx(0.8505)
    assert result.non_2xx == 3
    assert result.socket_errors == 0


@pytest.mark.live
def test_bench_runs_end_to_end() -> None:
    require_binary("wrk", "apt-get install wrk")
    completed = subprocess.run(
        [sys.executable, "-m", "order_api.bench", "--rounds=3", "--duration=1", "--warmup=1"],
        env=service_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "median ratio (order / bare):" in completed.stdout
    assert "median p99: order" in completed.stdout
    # Each p99 column says whose it is.
    assert "order p99 ms" in completed.stdout and "bare p99 ms" in completed.stdout


@pytest.mark.live
def test_version_flag() -> None:
    completed = subprocess.run(
        [order_api_script(), "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert completed.stdout == f"order-api {__version__}\n"


@pytest.mark.live
def test_start_up_log_names_the_address() -> None:
    with OrderApiServer() as server:
        log = server.log()
    assert f"order-api {__version__} listening on http://127.0.0.1:{server.port}" in log


def test_bench_check_turns_a_missed_target_into_exit_1() -> None:
    assert bench.exit_status(False, check=False) == 0  # a plain run reports, exits 0
    assert bench.exit_status(False, check=True) == 1
    assert bench.exit_status(True, check=True) == 0
    assert bench.targets_met(bench.TARGET_RATIO, bench.TARGET_P99_MS - 0.01)
    assert not bench.targets_met(bench.TARGET_RATIO - 0.01, 1.0)
    assert not bench.targets_met(0.95, bench.TARGET_P99_MS)
    assert bench.parse_args(["--check"]).check
    assert not bench.parse_args([]).check


@pytest.mark.live
def test_bench_help_explains_every_option() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "order_api.bench", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0
    text = " ".join(completed.stdout.split())
    assert "--check exit 1 when a target is missed" in text
    assert "--connections CONNECTIONS concurrent keep-alive connections" in text
