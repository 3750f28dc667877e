"""A prepared response goes on the wire exactly as Sanic's own path writes it."""

from __future__ import annotations

import pytest
from sanic import HTTPResponse
from sanic.headers import format_http1_response

from order_api import telemetry
from order_api.responses import PreparedHead

FIXED = {telemetry.VERSION_HEADER: "1.2.3+build.4"}
JSON = "application/json"


def sanic_wire(status: int, body: bytes, *, keep_alive: bool) -> bytes:
    """What Sanic's http1_response_header writes for the equivalent HTTPResponse
    (the alt-svc header is dropped by its own start-up touch-up without HTTP/3)."""
    response = HTTPResponse(body, status=status, headers=dict(FIXED), content_type=JSON)
    response.headers["content-length"] = len(body)
    response.headers["connection"] = "keep-alive" if keep_alive else "close"
    return format_http1_response(status, response.processed_headers) + body


@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize("status", [201, 200, 422])
@pytest.mark.parametrize("body", [b'{"id":"x"}', b"", '{"item":"\N{GRINNING FACE}"}'.encode()])
def test_wire_is_what_sanic_writes(status: int, body: bytes, keep_alive: bool) -> None:
    head = PreparedHead.render(status, FIXED, JSON)
    assert head.wire(body, keep_alive=keep_alive) == sanic_wire(status, body, keep_alive=keep_alive)


def test_a_prepared_response_is_an_ordinary_one_for_sanic() -> None:
    head = PreparedHead.render(201, FIXED, JSON)
    response = head.respond(b"{}")
    assert (response.status, response.body, response.content_type) == (201, b"{}", JSON)
    assert not response.headers  # the fast path's condition: nothing added
    response.headers["x-extra"] = "1"
    response.materialize()
    response.materialize()  # idempotent: Sanic's path may send more than once
    assert list(response.headers.items()) == [*FIXED.items(), ("x-extra", "1")]
