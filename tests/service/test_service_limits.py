"""Slow clients and many connections: the head deadline, the connection cap, the handler timeout."""

from __future__ import annotations

import json
import select
import socket
import time

import httpx
import pytest

from order_api import settings, telemetry
from order_api.settings import Settings, SettingsError
from tests.service.order_api_server import OrderApiServer, counter, read_to_eof


def read_response(sock: socket.socket) -> tuple[str, object]:
    data = read_to_eof(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), json.loads(body)


@pytest.mark.live
def test_a_request_head_trickling_in_is_cut_off_at_the_head_deadline() -> None:
    # Sanic's own timeout restarts on every byte: a byte now and then holds
    # the connection forever. The head deadline counts from the head's first byte.
    with OrderApiServer(**{settings.ENV_HEAD_TIMEOUT_S: "1.5"}) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            for _ in range(30):  # a byte every 0.2 s: 6 s if never cut off
                if select.select([sock], [], [], 0.2)[0]:
                    break  # the server answered
                sock.sendall(b"x")
            status, body = read_response(sock)
            elapsed = time.monotonic() - started
        assert status.startswith("HTTP/1.1 408"), status
        assert body == {"error": "request head not received within 1.5 s"}
        assert 1.5 <= elapsed < 3.0, elapsed
        assert counter(server, "GET", telemetry.HEALTH_PATH, 408) == 1
        assert "Traceback" not in server.log()


@pytest.mark.live
def test_connections_over_the_cap_are_answered_503_and_closed() -> None:
    with OrderApiServer(**{settings.ENV_MAX_CONNECTIONS: "3"}) as server:
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
        try:
            time.sleep(0.2)  # accepted
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as extra:
                extra.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
                status, body = read_response(extra)  # the server closes it
            assert status.startswith("HTTP/1.1 503"), status
            assert body == {"error": "too many connections"}
            assert counter_outside_cap(server, held) == 1
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert httpx.get(server.url + telemetry.HEALTH_PATH).status_code == 200


def counter_outside_cap(server: OrderApiServer, held: list[socket.socket]) -> float:
    """The 503 count, scraped over one of the held connections (a new one would be over the cap)."""
    sock = held[0]
    sock.settimeout(10)
    sock.sendall(f"GET {telemetry.METRICS_PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    prefix = (
        f'{telemetry.REQUESTS_TOTAL}{{method="GET",path="{telemetry.HEALTH_PATH}",status="503"}} '
    )
    for line in body.decode().splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


@pytest.mark.live
def test_a_handler_over_the_response_timeout_is_answered_503_json() -> None:
    env = {settings.ENV_RESPONSE_TIMEOUT_S: "1", settings.ENV_FAULT_DELAY_MS: "3000"}
    with OrderApiServer(**env) as server:
        started = time.monotonic()
        response = httpx.post(
            server.url + telemetry.ORDER_PATH, json={"item": "a", "quantity": 1}, timeout=10
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"error": "no response within 1 s"}
        assert 1.0 <= elapsed < 2.5, elapsed
        assert counter(server, "POST", telemetry.ORDER_PATH, 503) == 1
        log = server.log()
    # One line naming the route, no traceback.
    assert sum("no response within 1 s" in line for line in log.splitlines()) == 1
    assert f"POST {telemetry.ORDER_PATH}: no response within 1 s" in log
    assert "Traceback" not in log


def test_limit_settings_are_read_and_validated() -> None:
    read = Settings.from_env(
        {
            settings.ENV_HEAD_TIMEOUT_S: "2.5",
            settings.ENV_MAX_CONNECTIONS: "50",
            settings.ENV_RESPONSE_TIMEOUT_S: "30",
        }
    )
    assert (read.head_timeout_s, read.max_connections, read.response_timeout_s) == (2.5, 50, 30.0)
    defaults = Settings()
    assert (defaults.head_timeout_s, defaults.max_connections, defaults.response_timeout_s) == (
        10.0,
        1000,
        60.0,
    )
    for name, bad in [
        (settings.ENV_HEAD_TIMEOUT_S, "0"),
        (settings.ENV_HEAD_TIMEOUT_S, "inf"),
        (settings.ENV_MAX_CONNECTIONS, "0"),
        (settings.ENV_MAX_CONNECTIONS, "2.5"),
        (settings.ENV_MAX_CONNECTIONS, "\u0661\u0660"),  # Arabic-Indic digits
        (settings.ENV_RESPONSE_TIMEOUT_S, "-1"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: bad})
