"""Errors below the handlers (the request head, the body limit): still JSON, still counted.

The head cases are RFC 9112's rejections and order-api's limits
(order_api.protocol); every answer is a fixed message that echoes nothing
the client sent.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from order_api import protocol, telemetry
from tests.service.head_cases import FIELDS_8K, HOST, REJECTED_HEADS, get
from tests.service.order_api_server import OrderApiServer, counter, raw_exchange, read_to_eof

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def server() -> Iterator[OrderApiServer]:
    with OrderApiServer(ORDER_API_BENCH_BARE="1") as server:
        yield server


def test_malformed_request_line_is_json_400_counted_as_unmatched(server: OrderApiServer) -> None:
    before = counter(server, telemetry.OTHER_METHOD, telemetry.UNMATCHED_PATH, 400)
    status, headers, body = raw_exchange(server, b"THIS IS NOT HTTP\r\n\r\n")
    assert status.startswith("HTTP/1.1 400")
    assert headers["content-type"] == "application/json"
    assert headers[telemetry.VERSION_HEADER.lower()]
    assert json.loads(body) == {"error": "malformed request line"}
    after = counter(server, telemetry.OTHER_METHOD, telemetry.UNMATCHED_PATH, 400)
    assert after - before == 1


def test_chunked_body_over_the_limit_is_413(server: OrderApiServer) -> None:
    chunk = b"a" * 8192
    request = (
        b"POST /api/order HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3))
        + b"0\r\n\r\n"
    )
    status, headers, body = raw_exchange(server, request)
    assert status.startswith("HTTP/1.1 413")
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "request body exceeds 16384 bytes"}


def test_declared_content_length_over_the_limit_is_413(server: OrderApiServer) -> None:
    request = (
        b"POST /api/order HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n" + b"{" * 20_000
    )
    status, _, body = raw_exchange(server, request)
    assert status.startswith("HTTP/1.1 413")
    assert json.loads(body) == {"error": "request body exceeds 16384 bytes"}


def test_bench_endpoint_exists_only_with_the_flag_and_is_uninstrumented(
    server: OrderApiServer,
) -> None:
    response = httpx.post(server.url + "/bench/bare", content=b"{}")
    assert response.status_code == 201
    assert telemetry.VERSION_HEADER not in response.headers
    assert "/bench/bare" not in httpx.get(server.url + telemetry.METRICS_PATH).text


def test_control_bytes_in_the_url_are_json_400_counted_and_not_logged(
    server: OrderApiServer,
) -> None:
    # Sanic's own error path raised again for these: no response, four tracebacks each.
    controls = [*range(0x00, 0x20), 0x7F]
    before = counter(server, "GET", telemetry.UNMATCHED_PATH, 400)
    log_lines = len(server.log().splitlines())
    for byte in controls:
        status, headers, body = raw_exchange(server, get(b"/a" + bytes([byte]) + b"b"))
        assert status.startswith("HTTP/1.1 400"), (byte, status)
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {
            "error": "request target contains a control character or a non-ASCII byte"
        }
    after = counter(server, "GET", telemetry.UNMATCHED_PATH, 400)
    assert after - before == len(controls)
    assert len(server.log().splitlines()) - log_lines <= len(controls)
    assert "Traceback" not in server.log()


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    REJECTED_HEADS,
    ids=lambda value: value if isinstance(value, str) else str(value)[:8],
)
def test_request_heads_rfc_9112_rejects_are_answered_exactly(
    server: OrderApiServer, request_bytes: bytes, status: int, message: str
) -> None:
    status_line, headers, body = raw_exchange(server, request_bytes)
    assert status_line.startswith(f"HTTP/1.1 {status} "), status_line
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert json.loads(body) == {"error": message}
    assert "Traceback" not in server.log()


def test_limits_are_inclusive(server: OrderApiServer) -> None:
    longest = b"/api/health?" + b"a" * (protocol.MAX_TARGET_BYTES - len(b"/api/health?"))
    assert raw_exchange(server, get(target=longest))[0].startswith("HTTP/1.1 200")
    fields = HOST + b"X-A: b\r\n" * (protocol.MAX_FIELDS - 2)  # + Host + Connection
    assert raw_exchange(server, get(headers=fields))[0].startswith("HTTP/1.1 200")
    # HTTP/1.0 needs no Host.
    assert raw_exchange(server, b"GET /api/health HTTP/1.0\r\n\r\n")[0].startswith("HTTP/1.1 200")


def test_a_method_outside_the_standard_ones_is_not_echoed(server: OrderApiServer) -> None:
    method = b"X" * 30  # a valid token, not a method order-api knows
    status, _, body = raw_exchange(server, get(method=method))
    assert status.startswith("HTTP/1.1 405")
    assert json.loads(body) == {"error": "method not allowed"}


def test_a_rejected_head_is_counted_with_its_method_and_path(server: OrderApiServer) -> None:
    before = counter(server, "POST", telemetry.ORDER_PATH, 431)
    request = get(target=telemetry.ORDER_PATH.encode(), headers=HOST + FIELDS_8K, method=b"POST")
    assert raw_exchange(server, request)[0].startswith("HTTP/1.1 431")
    assert counter(server, "POST", telemetry.ORDER_PATH, 431) - before == 1


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (get(target=b"/" + b"a" * 512 * 1024), 414),
        (get(headers=HOST + b"X-A: " + b"b" * 512 * 1024 + b"\r\n"), 431),
    ],
    ids=["target", "fields"],
)
def test_a_head_rejected_early_is_answered_not_reset(
    server: OrderApiServer, head: bytes, status: int
) -> None:
    """order-api answers as soon as a head is over a limit, long before the client has
    sent it all: the response must still reach the client (RFC 9112 9.6), not be
    discarded by the reset that closing with unread input sends."""
    status_line, headers, _ = raw_exchange(server, head)
    assert status_line.startswith(f"HTTP/1.1 {status} "), status_line
    assert headers["connection"] == "close"


def _rejected_then_held(server: OrderApiServer) -> socket.socket:
    """A connection whose head was rejected, answered and half-closed by order-api,
    and that the client keeps open."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(get(target=b"/" + b"a" * 64 * 1024))
    assert read_to_eof(sock).startswith(b"HTTP/1.1 414 ")
    return sock


def _closed_by_server(sock: socket.socket, *, within_s: float) -> float:
    """Seconds until writing to `sock` fails, polling (the server has closed it)."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        try:
            sock.sendall(b"x" * 4096)
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"still open after {within_s} s")


def test_a_lingering_connection_is_closed_after_its_time(server: OrderApiServer) -> None:
    with _rejected_then_held(server) as sock:
        waited = _closed_by_server(sock, within_s=protocol.LINGER_S + 5)
    assert waited >= protocol.LINGER_S - 0.5, waited


def _max_buffer(name: str) -> int:
    """The largest a TCP socket buffer can grow (the third field of the sysctl)."""
    return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])


def test_a_lingering_connection_discards_a_bounded_amount(server: OrderApiServer) -> None:
    # What order-api may read, plus what both sockets' buffers can hold.
    bound = protocol.LINGER_MAX_BYTES + _max_buffer("tcp_wmem") + _max_buffer("tcp_rmem")
    sent = 0
    with _rejected_then_held(server) as sock:
        sock.settimeout(10)
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            while sent < 4 * bound:
                sent += sock.send(b"x" * 65536)
    assert sent <= bound + 65536, (sent, bound)
