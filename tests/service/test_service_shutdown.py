"""Graceful shutdown on SIGTERM, against a real process."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from order_api_server import OrderApiServer

from order_api import telemetry

SHUTDOWN_DELAY_S = 2.0
ORDER_DELAY_S = 1.5
IN_FLIGHT = 8


def slow_order(url: str) -> int:
    # A connection per request, as from different clients.
    response = httpx.post(
        url + telemetry.ORDER_PATH, json={"item": "slow", "quantity": 1}, timeout=30
    )
    return response.status_code


def test_sigterm_drains_gracefully() -> None:
    server = OrderApiServer(
        ORDER_API_SHUTDOWN_DELAY_S=str(SHUTDOWN_DELAY_S),
        ORDER_API_FAULT_DELAY_MS=str(int(ORDER_DELAY_S * 1000)),
    )
    with server, ThreadPoolExecutor(max_workers=IN_FLIGHT + 2) as pool:
        in_flight = [pool.submit(slow_order, server.url) for _ in range(IN_FLIGHT)]
        time.sleep(0.5)  # all accepted and sleeping in the handler
        assert not any(future.done() for future in in_flight)

        server.terminate()
        sigterm_at = time.monotonic()
        with server.client() as client:
            # Readiness flips at once; liveness stays up.
            ready = client.get(telemetry.READY_PATH)
            assert ready.status_code == 503
            assert ready.json() == {"status": "shutting down"}
            assert time.monotonic() - sigterm_at < 1.0  # well inside the delay
            assert client.get(telemetry.HEALTH_PATH).status_code == 200
            # Still serving during the delay, and telling clients to reconnect.
            during = client.get(telemetry.VERSION_PATH)
            assert during.status_code == 200
            assert during.headers["connection"] == "close"
        # A request accepted during the delay is drained like the others.
        late = pool.submit(slow_order, server.url)

        assert [future.result(timeout=30) for future in in_flight] == [201] * IN_FLIGHT
        assert late.result(timeout=30) == 201
        assert server.process is not None
        exit_code = server.process.wait(timeout=30)
        stopped_after = time.monotonic() - sigterm_at

    assert exit_code == 0, server.log()
    assert stopped_after >= SHUTDOWN_DELAY_S
    assert "Traceback" not in server.log()


def test_sigterm_without_traffic_exits_zero_after_the_delay() -> None:
    server = OrderApiServer(ORDER_API_SHUTDOWN_DELAY_S="1")
    with server:
        started = time.monotonic()
        exit_code = server.stop()
        elapsed = time.monotonic() - started
    assert exit_code == 0
    assert 1.0 <= elapsed < 10.0


def test_requests_after_the_delay_are_refused() -> None:
    server = OrderApiServer(ORDER_API_SHUTDOWN_DELAY_S="0.5")
    with server:
        server.stop()
        try:
            httpx.get(server.url + telemetry.HEALTH_PATH, timeout=2)
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("server still accepting after shutdown")
