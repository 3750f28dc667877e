"""The undeclared internals order-api relies on, pinned: a Sanic or Python upgrade
that changes one fails here, by name, instead of somewhere in production.

- Sanic's `Http` connection object (protocol.GuardedHttp): `keep_alive`,
  `recv_buffer`, `stage`, `protocol`, the methods GuardedHttp overrides or
  calls, and HttpProtocol's `HTTP_CLASS` and `close_if_idle`, which Sanic's
  single-process runner calls once the listener is closed.
- What the fast paths use: `Request.receive_body` (protocol.GuardedRequest,
  which takes the body from Sanic's buffer) and `BaseHTTPResponse.send`
  (responses.PreparedResponse, which writes the whole response itself).
"""

from __future__ import annotations

import inspect

from sanic import Sanic
from sanic.http import Http
from sanic.http.stream import Stream
from sanic.request import Request
from sanic.response.types import BaseHTTPResponse
from sanic.server import runners
from sanic.server.protocols.http_protocol import HttpProtocol


def test_sanic_http_has_what_guarded_http_uses() -> None:
    assert "keep_alive" in Http.__slots__
    assert {"recv_buffer", "stage", "protocol", "request", "url"} <= set(Http.__slots__)
    for name, params in [
        ("http1_request_header", ["self"]),
        ("create_empty_request", ["self"]),
        ("_receive_more", None),
    ]:
        assert hasattr(Http, name) or name in Http.__slots__, name
        if params is not None:
            assert list(inspect.signature(getattr(Http, name)).parameters) == params, name
    # Sanic reads these per request: the head is parsed from recv_buffer up to
    # its blank line, keep-alive decided from the version and config.KEEP_ALIVE.
    source = inspect.getsource(Http.http1_request_header)
    assert 'buf.find(b"\\r\\n\\r\\n"' in source
    assert "self.protocol.app.config.KEEP_ALIVE" in source


def test_sanic_protocol_and_runner_call_what_guarded_protocol_overrides() -> None:
    assert HttpProtocol.HTTP_CLASS is Http
    assert "self._http = self.HTTP_CLASS(" in inspect.getsource(HttpProtocol._setup_connection)
    cleanup = inspect.getsource(runners._serve_http_1)
    # The listener closes first, then every connection is offered close_if_idle().
    assert cleanup.index("http_server.close()") < cleanup.index("connection.close_if_idle()")
    assert "def close_if_idle(self) -> bool:" in inspect.getsource(HttpProtocol)


def test_sanic_has_what_the_body_and_response_fast_paths_use() -> None:
    # GuardedRequest.receive_body reads and consumes Sanic's body state.
    body_state = {"request_body", "request_bytes", "request_bytes_left", "expecting_continue"}
    assert body_state | {"recv_buffer"} <= set(Http.__slots__)
    assert "request_max_size" in Stream.__slots__  # Http's base
    assert "if self.request_bytes > self.request_max_size:" in inspect.getsource(Http.read)
    assert list(inspect.signature(Request.receive_body).parameters) == ["self"]
    assert "await request.receive_body()" in inspect.getsource(Sanic.handle_request)
    # PreparedResponse.send ends the response as http1_response_header does.
    response_state = {"_send", "response", "response_func", "response_size", "head_only"}
    assert response_state | {"stage", "keep_alive"} <= set(Http.__slots__)
    source = inspect.getsource(Http.http1_response_header)
    assert "self.response_func = None" in source and "await self._send(ret)" in source
    assert 'headers["connection"] = "keep-alive" if self.keep_alive else "close"' in source
    assert set(BaseHTTPResponse.__slots__) == {
        "asgi",
        "body",
        "content_type",
        "stream",
        "status",
        "headers",
        "_cookies",
    }
    assert list(inspect.signature(BaseHTTPResponse.send).parameters) == [
        "self",
        "data",
        "end_stream",
    ]
    assert "await response.send(end_stream=True)" in inspect.getsource(Sanic.handle_request)
