"""Errors Sanic raises below the handlers: still JSON, still counted."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from order_api import telemetry
from tests.service.order_api_server import OrderApiServer


@pytest.fixture(scope="module")
def server() -> Iterator[OrderApiServer]:
    with OrderApiServer(ORDER_API_BENCH_BARE="1") as server:
        yield server


def raw_exchange(server: OrderApiServer, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send bytes as they are; return (status line, headers, body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *header_lines = head.decode().split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def counter(server: OrderApiServer, method: str, path: str, status: int) -> float:
    text = httpx.get(server.url + telemetry.METRICS_PATH).text
    prefix = f'{telemetry.REQUESTS_TOTAL}{{method="{method}",path="{path}",status="{status}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


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
