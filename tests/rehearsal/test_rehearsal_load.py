"""The load generator and the loadtester stand-in, against a real HTTP server on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rehearsal.measure.load import HeyRun, LoadCounter, LoadCounts, Request
from rehearsal.model.loadtester import RUNNER_TICK_S, LoadTester, Plan, plan
from rehearsal.model.ticker import Ticker
from rehearsal.spec.webhook_commands import CommandError, parse_hey

CMD = "hey -z 2s -q 5 -c 2 -m POST -T application/json -d '{\"a\":1}' -host h.example http://traefik.traefik/api/order"


class _Handler(BaseHTTPRequestHandler):
    delay_s = 0.0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.server.delay_s)  # type: ignore[attr-defined]
        status = 201 if self.headers.get("Host") == "h.example" else 404
        self.send_response(status)
        self.send_header("X-App-Version", "9.9.9")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.delay_s = 0.0  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _address(httpd: ThreadingHTTPServer) -> tuple[str, int]:
    return "127.0.0.1", int(httpd.server_address[1])


def test_hey_flags_as_hey_reads_them() -> None:
    hey = parse_hey(CMD)
    assert hey is not None
    assert (hey.duration_s, hey.qps_per_worker, hey.workers, hey.rate) == (2.0, 5.0, 2, 10.0)
    assert (hey.method, hey.path, hey.host, hey.content_type) == (
        "POST",
        "/api/order",
        "h.example",
        "application/json",
    )
    defaults = parse_hey("hey http://x/")
    assert defaults is not None
    assert (defaults.duration_s, defaults.requests, defaults.workers, defaults.rate) == (
        None,
        200,
        50,
        None,
    )
    assert parse_hey("hey -z=13m -c=3 http://x/").duration_s == 780  # type: ignore[union-attr]
    assert parse_hey("curl http://x/") is None
    with pytest.raises(CommandError, match="-q"):
        parse_hey("hey -q fast http://x/")
    with pytest.raises(CommandError, match="URL"):
        parse_hey("hey -z 1m")


def test_rate_is_per_simulated_second_with_workers_scaled() -> None:
    hey = parse_hey(CMD)
    assert hey is not None
    # 10 req/s simulated at speed 5 is 50 real, by 10 workers at hey's 5 each.
    assert plan(hey, speed=5, rate=None, max_rate=100) == plan_of(10, 50)
    assert plan(hey, speed=30, rate=None, max_rate=100) == plan_of(20, 100)  # capped
    assert plan(hey, speed=30, rate=12, max_rate=100) == plan_of(3, 12)  # --rate wins


def plan_of(workers: int, rate: float) -> Plan:
    return Plan(workers=workers, rate=rate)


def test_a_call_while_the_command_runs_is_dropped_then_a_later_one_starts(server) -> None:
    tester = LoadTester(resolve=lambda url: _address(server), speed=1.0)
    t0 = time.monotonic()
    first = tester.call("order-api.sre-demo", "load-test-start", CMD, at=t0)
    same = tester.call("order-api.sre-demo", "load-test", CMD, at=t0 + 1.0)
    other_canary = tester.call("other.sre-demo", "load-test", CMD, at=t0 + 1.0)
    assert first.started and not same.started and other_canary.started
    assert tester.coverage(t0 - 2.0, t0) == 0  # nothing ran before the first call
    assert tester.coverage(t0, t0 + 2.0) == pytest.approx(1 - RUNNER_TICK_S / 2, abs=0.01)
    assert "already running" in same.detail
    # -z 2s plus the runner's pickup: at exactly one 2 s interval later it still runs.
    assert not tester.call("order-api.sre-demo", "load-test", CMD, at=t0 + 2.0).started
    later = t0 + 2.0 + RUNNER_TICK_S + 0.01
    time.sleep(max(0.0, later - time.monotonic()))
    assert tester.call("order-api.sre-demo", "load-test", CMD, at=later).started
    counts = tester.stop()
    assert counts.by_status.get("201", 0) > 0 and set(counts.by_status) == {"201"}
    assert counts.by_version == {"9.9.9": counts.sent}


def test_hey_run_sends_its_rate_for_its_duration(server) -> None:
    counter = LoadCounter()
    run = HeyRun(
        address=_address(server),
        request=Request(method="POST", path="/", host="h.example", body=b"{}", content_type=None),
        counter=counter,
        workers=2,
        rate=20.0,
        duration_s=1.5,
        requests=0,
        timeout_s=5.0,
    ).start()
    assert run.running
    run.join(timeout=5)
    assert not run.running and run.ended_at is not None
    sent = counter.snapshot().sent
    assert 26 <= sent <= 32, sent  # 20/s for 1.5 s, first slot at 0
    assert run.ended_at - run.started_at < 2.0


def test_hey_run_n_requests_split_over_workers(server) -> None:
    counter = LoadCounter()
    HeyRun(
        address=_address(server),
        request=Request(method="POST", path="/", host="h.example", body=None, content_type=None),
        counter=counter,
        workers=3,
        rate=200.0,
        duration_s=None,
        requests=10,
        timeout_s=5.0,
    ).start().join(timeout=5)
    assert counter.snapshot().sent == 10


def test_a_slow_answer_drops_throttle_slots_as_hey_does(server) -> None:
    server.delay_s = 0.35
    counter = LoadCounter()
    HeyRun(
        address=_address(server),
        request=Request(method="POST", path="/", host="h.example", body=None, content_type=None),
        counter=counter,
        workers=1,
        rate=10.0,
        duration_s=1.0,
        requests=0,
        timeout_s=5.0,
    ).start().join(timeout=5)
    counts = counter.snapshot()
    # One request per 0.35 s plus one pending slot each time, the rest dropped.
    assert counts.sent <= 5 and counts.skipped >= 3, counts


def test_counts_between_snapshots() -> None:
    before = LoadCounts(sent=3, by_status={"201": 3}, by_version={"a": 3})
    after = LoadCounts(
        sent=7, by_status={"201": 5, "500": 2}, by_version={"a": 7}, errors={}, skipped=1
    )
    diff = after.minus(before)
    assert (diff.sent, diff.by_status, diff.by_version, diff.skipped) == (
        4,
        {"201": 2, "500": 2},
        {"a": 4},
        1,
    )
    assert diff.failed == 2
    assert LoadCounts(errors={"ConnectionResetError": 2}, by_status={"503": 1}).failed == 3


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ticker_drops_missed_ticks_like_go() -> None:
    clock = _Clock()
    ticker = Ticker(1.0, start=0.0, clock=clock)

    def receive_at(now: float) -> tuple[int, float, int]:
        tick = ticker.next()
        clock.now = max(now, tick.due)
        ticker.received(tick)
        return tick.slot, tick.due, tick.dropped

    assert receive_at(0.5) == (1, 1.0, 0)
    assert receive_at(1.2) == (2, 2.0, 0)
    # Stalled while waiting for slot 3: it is received late, at 5.5, and slots 4
    # and 5 fell while it was pending: dropped; the next is slot 6 on the phase.
    assert receive_at(5.5) == (3, 3.0, 0)
    assert receive_at(5.6) == (6, 6.0, 2)
    # A stall while processing slot 6 (until 8.4): slot 7 was pending, 8 dropped.
    clock.now = 8.4
    assert receive_at(8.4) == (7, 7.0, 0)
    assert receive_at(8.4) == (9, 9.0, 1)
