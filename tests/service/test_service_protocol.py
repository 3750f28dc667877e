"""order_api.protocol's head checks as functions (the fast subset; the live
tests send the same heads over a socket)."""

from __future__ import annotations

import pytest

from order_api import protocol
from order_api.errors import RejectedRequest
from tests.service.head_cases import HOST, REJECTED_HEADS, get


def rejection(request: bytes) -> tuple[int, str] | None:
    buf = bytearray(request)
    end = buf.find(b"\r\n\r\n", 0, protocol.MAX_HEAD_BYTES + 4)
    try:
        if end == -1:
            protocol.check_partial(buf)
            return None
        protocol.check_head(buf, end)
    except RejectedRequest as error:
        return error.status_code, str(error)
    return None


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    REJECTED_HEADS,
    ids=lambda value: value if isinstance(value, str) else str(value)[:8],
)
def test_each_rejected_head_gets_its_status_and_message(
    request_bytes: bytes, status: int, message: str
) -> None:
    assert rejection(request_bytes) == (status, message)


@pytest.mark.parametrize(
    "request_bytes",
    [
        get(),
        get(method=b"POST", target=b"/api/order?x=%00", headers=HOST + b"X-Obs: caf\xe9\r\n"),
        get(headers=b"hOsT: x\r\nX-Tab:\tv\r\nX-Empty:\r\n"),
        b"GET /api/health HTTP/1.0\r\n\r\n",
        get(target=b"/" + b"a" * (protocol.MAX_TARGET_BYTES - 1)),
        get(method=b"A" * protocol.MAX_METHOD_BYTES),
    ],
)
def test_valid_heads_pass(request_bytes: bytes) -> None:
    assert rejection(request_bytes) is None


def test_a_partial_head_is_refused_as_soon_as_it_is_over_a_limit() -> None:
    url = bytearray(b"GET /" + b"a" * (protocol.MAX_TARGET_BYTES + 100))
    with pytest.raises(RejectedRequest, match="request target exceeds"):
        protocol.check_partial(url)
    fields = bytearray(get()[:-2] + b"X: " + b"v" * (protocol.MAX_HEAD_BYTES + 10))
    with pytest.raises(RejectedRequest, match="request header fields exceed"):
        protocol.check_partial(fields)
    protocol.check_partial(bytearray(b"GET /api/health HTTP/1.1\r\nHost: x\r\n"))  # still fine
