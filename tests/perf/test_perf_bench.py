"""The benchmark's wrk plumbing, its targets and its command line."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from perf import bench
from perf.bench import parse_wrk
from tests.service.order_api_server import service_env
from tests.support.prerequisites import require_binary

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
        [sys.executable, "-m", "perf.bench", "--rounds=3", "--duration=1", "--warmup=1"],
        env=service_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert re.search(r"^median guard cost \(guard / plain\): \d\.\d{3} ", out, re.M), out
    assert re.search(r"^median order cost \(order / plain\): \d\.\d{3} ", out, re.M), out
    assert re.search(r"^median p99: plain [\d.]+ ms, guard [\d.]+ ms, order [\d.]+ ms", out, re.M)
    # The table names each side above its columns; three measured rounds.
    header, columns = out.splitlines()[1:3]
    assert header.split() == ["plain", "|", "guard", "|", "order", "|", "ratios", "(req/s)"]
    assert columns.split("|")[1].split() == ["req/s", "p99", "ms", "cpu", "us"]
    assert len(re.findall(r"^\s+[123] ", out, re.M)) == 3, out


def summary(order: float, guard: float, p99_factor: float) -> bench.Summary:
    return bench.Summary(
        order_ratio=order, guard_ratio=guard, p99_ms={"plain": 2.0, "order": 2.0 * p99_factor}
    )


def test_bench_targets_are_met_at_their_edges_and_missed_past_them() -> None:
    t = bench.TARGETS
    assert bench.misses(summary(t.order_ratio, t.guard_ratio, t.p99_factor)) == []
    missed = bench.misses(summary(t.order_ratio - 0.01, t.guard_ratio - 0.01, t.p99_factor + 0.1))
    assert [line.split()[0] for line in missed] == ["order", "guard", "order"]
    assert "p99" in missed[2]


def test_bench_summary_takes_the_median_of_per_round_ratios() -> None:
    def result(rps: float, p99: float) -> bench.Result:
        return bench.Result(requests_per_s=rps, p99_ms=p99, non_2xx=0, errors=bench.SocketErrors())

    results = {
        "plain": [result(100, 1.0), result(200, 2.0), result(100, 3.0)],
        "guard": [result(90, 1.0), result(200, 2.0), result(50, 3.0)],
        "order": [result(80, 2.0), result(120, 4.0), result(90, 9.0)],
    }
    s = bench.summarize(results)
    assert s.guard_ratio == pytest.approx(0.9)  # of 0.9, 1.0, 0.5
    assert s.order_ratio == pytest.approx(0.8)  # of 0.8, 0.6, 0.9
    assert s.p99_ms == {"plain": 2.0, "guard": 2.0, "order": 4.0}
    assert s.p99_factor == pytest.approx(2.0)


def test_bench_check_turns_a_missed_target_into_exit_1() -> None:
    assert bench.exit_status(False, check=False) == 0  # a plain run reports, exits 0
    assert bench.exit_status(False, check=True) == 1
    assert bench.exit_status(True, check=True) == 0
    assert bench.parse_args(["--check"]).check
    assert not bench.parse_args([]).check


@pytest.mark.live
def test_bench_help_explains_every_option() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "perf.bench", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0
    text = " ".join(completed.stdout.split())
    assert "--check exit 1 when a target is missed" in text
    assert "--connections CONNECTIONS concurrent keep-alive connections" in text


@pytest.mark.live
def test_soak_counts_every_order_wrk_saw() -> None:
    require_binary("wrk", "apt-get install wrk")
    completed = subprocess.run(
        [sys.executable, "-m", "perf.soak", "--duration=5", "--connections=16", "--sample=2"],
        env=service_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.rstrip().endswith("soak ok")
    assert re.search(r"^  POST /api/order 201: [1-9]\d*$", completed.stdout, re.M)
