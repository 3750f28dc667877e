"""The order's bytes on the wire, on the fast paths (prepared head, body in one
slice) and on every path that must leave them for Sanic's own."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import pytest

from order_api import __version__, telemetry
from tests.service.order_api_server import OrderApiServer, counter, read_to_eof

pytestmark = pytest.mark.live

BODY = b'{"item": "book", "quantity": 2}'
HEAD = (
    b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    % (telemetry.ORDER_PATH.encode(), len(BODY))
)
ORDER = HEAD + b"\r\n" + BODY
# The 201 as Sanic's own path wrote it before the head was prepared: same lines, same order.
CREATED = re.compile(
    rb"HTTP/1\.1 201 Created\r\nX-App-Version: %b\r\ncontent-length: (\d+)\r\n"
    rb"connection: (keep-alive|close)\r\ncontent-type: application/json\r\n\r\n"
    % re.escape(__version__.encode())
)


@pytest.fixture(scope="module")
def server() -> Iterator[OrderApiServer]:
    with OrderApiServer() as server:
        yield server


def created(data: bytes) -> tuple[list[dict[str, object]], list[bytes]]:
    """The orders in `data`, a run of 201 responses, and their connection values."""
    orders, connections = [], []
    while data:
        match = CREATED.match(data)
        assert match, data[:300]
        end = match.end() + int(match[1])
        orders.append(json.loads(data[match.end() : end]))
        connections.append(match[2])
        data = data[end:]
    return orders, connections


def exchange(server: OrderApiServer, *parts: bytes, pause_s: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(pause_s)
        sock.shutdown(socket.SHUT_WR)
        return read_to_eof(sock)


def test_pipelined_orders_in_one_packet_are_each_answered_once(server: OrderApiServer) -> None:
    before = counter(server, "POST", telemetry.ORDER_PATH, 201)
    orders, connections = created(exchange(server, ORDER * 3))
    assert [(o["item"], o["quantity"]) for o in orders] == [("book", 2)] * 3
    assert len({o["id"] for o in orders}) == 3
    assert connections == [b"keep-alive"] * 3
    assert counter(server, "POST", telemetry.ORDER_PATH, 201) - before == 3


def test_a_body_arriving_after_its_head_is_read_whole(server: OrderApiServer) -> None:
    orders, _ = created(exchange(server, HEAD + b"\r\n", BODY[:9], BODY[9:], pause_s=0.2))
    assert [(o["item"], o["quantity"]) for o in orders] == [("book", 2)]


def test_http_1_0_order_answers_connection_close(server: OrderApiServer) -> None:
    request = ORDER.replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    orders, connections = created(exchange(server, request))
    assert len(orders) == 1 and connections == [b"close"]


def test_chunked_order_is_created(server: OrderApiServer) -> None:
    head = HEAD.replace(b"Content-Length: %d" % len(BODY), b"Transfer-Encoding: chunked")
    chunked = b"%x\r\n%b\r\n0\r\n\r\n" % (len(BODY), BODY)
    orders, _ = created(exchange(server, head + b"\r\n" + chunked))
    assert [(o["item"], o["quantity"]) for o in orders] == [("book", 2)]


def test_expect_100_continue_gets_its_interim_answer_then_the_order(
    server: OrderApiServer,
) -> None:
    head = HEAD + b"Expect: 100-continue\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        interim = sock.recv(1024)
        sock.sendall(BODY)
        sock.shutdown(socket.SHUT_WR)
        data = read_to_eof(sock)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    orders, _ = created(data)
    assert len(orders) == 1
