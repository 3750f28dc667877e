"""The undeclared internals order-api relies on, pinned: a Sanic or Python upgrade
that changes one fails here, by name, instead of somewhere in production.

- `json.JSONDecoder.scan_once` (orders.parse_json): set by JSONDecoder.__init__,
  not declared by it.
- Sanic's `Http` connection object (protocol.GuardedHttp): `keep_alive`,
  `recv_buffer`, `stage`, `protocol`, the methods GuardedHttp overrides or
  calls, and HttpProtocol's `HTTP_CLASS` and `close_if_idle`, which Sanic's
  single-process runner calls once the listener is closed.
"""

from __future__ import annotations

import inspect
import json

import pytest
from sanic.http import Http
from sanic.server import runners
from sanic.server.protocols.http_protocol import HttpProtocol

from order_api.orders import parse_json


def test_json_decoder_scan_once_scans_one_value_from_an_index() -> None:
    decoder = json.JSONDecoder()
    assert decoder.scan_once('{"a": [1, 2.5]} tail', 0) == ({"a": [1, 2.5]}, 15)  # type: ignore[attr-defined]
    assert decoder.scan_once("xx 7", 3) == (7, 4)  # type: ignore[attr-defined]
    with pytest.raises(StopIteration):
        decoder.scan_once(" 1", 0)  # type: ignore[attr-defined]
    # The hooks reach the scanner, which is what makes parse_json strict.
    strict = json.JSONDecoder(object_pairs_hook=lambda pairs: ("pairs", pairs))
    assert strict.scan_once('{"a":1}', 0) == (("pairs", [("a", 1)]), 7)  # type: ignore[attr-defined]
    assert parse_json('{"a":1}') == {"a": 1}


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
