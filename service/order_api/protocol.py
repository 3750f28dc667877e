"""HTTP/1.1 request heads checked before Sanic parses them, and the connection limits.

Sanic's parser is lenient (NUL in a header, whitespace before the colon,
HTTP/1.1 without Host, a method that is not a token) and answers an oversized
head with a 413 about the body. `GuardedHttp` reads the head itself, with an
overall deadline and size limits, checks it against RFC 9112 with one regex,
and only then lets Sanic parse it. Every rejection is a `RejectedRequest`:
a precise status and a fixed message that echoes nothing the client sent.

`GuardedProtocol` serves connections with `GuardedHttp`, caps how many are
served at once, closes a connection with unread input gracefully (answer,
half-close, drain) and carries the last-call step of the shutdown (see
`order_api.shutdown`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

from sanic.compat import Header
from sanic.http import Http, Stage
from sanic.server.protocols.http_protocol import HttpProtocol

from order_api import telemetry
from order_api.errors import RejectedRequest
from order_api.metrics import TimedRequest

MAX_METHOD_BYTES = 32
MAX_TARGET_BYTES = 4096  # the request target (URL); longer: 414
MAX_FIELD_BYTES = 8192  # every header line together; more: 431
MAX_FIELDS = 100  # header lines; more: 431
# The longest head that can pass: request line, CRLF, the fields.
_MAX_REQUEST_LINE = MAX_METHOD_BYTES + 1 + MAX_TARGET_BYTES + len(" HTTP/1.1")
MAX_HEAD_BYTES = _MAX_REQUEST_LINE + 2 + MAX_FIELD_BYTES
# Sanic's own head limit (its ceiling is 16 KiB) must never be the one that trips.
SANIC_HEADER_MAX_SIZE = 16_384
assert MAX_HEAD_BYTES < SANIC_HEADER_MAX_SIZE

# RFC 9110 5.6.2 token characters; field values: VCHAR, obs-text, SP and HTAB.
_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_HEAD = re.compile(
    rb"[%s]{1,%d} [\x21-\x7e]{1,%d} HTTP/1\.([01])((?:\r\n[%s]+:[\t\x20-\x7e\x80-\xff]*)*)"
    % (_TCHAR, MAX_METHOD_BYTES, MAX_TARGET_BYTES, _TCHAR)
)
_TOKEN = re.compile(rb"[%s]+" % _TCHAR)
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_VERSION = re.compile(rb"HTTP/\d\.\d")
# How long an idle kept-alive connection may still deliver a request once the
# listener is closed: far longer than a request in transit takes.
LAST_CALL_S = 1.0
# How long a connection closed with input unread lingers, and how much of it
# it discards at most (see Lingering).
LINGER_S = 2.0
LINGER_MAX_BYTES = 1 << 20
# The target an error is counted under when it is a plain path (else unmatched).
_PLAIN_PATH = re.compile(rb"/[A-Za-z0-9/_.-]{0,200}")


@dataclass(frozen=True, slots=True)
class Limits:
    head_timeout_s: float = 10.0
    max_connections: int = 1000


def check_head(buf: bytes | bytearray, end: int) -> None:
    """Raise RejectedRequest unless buf[:end] is a head RFC 9112 accepts, within the limits."""
    match = _HEAD.fullmatch(buf, 0, end)
    if match is None:
        raise diagnose(bytes(buf[:end]))
    fields = match[2]
    if len(fields) > MAX_FIELD_BYTES + 2:  # + the CRLF that ends the request line
        raise RejectedRequest(431, f"request header fields exceed {MAX_FIELD_BYTES} bytes")
    # A field line takes at least 4 bytes ("\r\nX:"): short blocks need no count.
    if len(fields) > 4 * MAX_FIELDS and fields.count(b"\r\n") > MAX_FIELDS:
        raise RejectedRequest(431, f"more than {MAX_FIELDS} request header fields")
    if match[1] == b"1":
        hosts = fields.lower().count(b"\r\nhost:")
        if hosts != 1:
            what = "without a Host header" if hosts == 0 else "with more than one Host header"
            raise RejectedRequest(400, f"HTTP/1.1 request {what}")


def diagnose(head: bytes) -> RejectedRequest:
    """The precise reason a complete head failed the regex (the slow path)."""
    request_line, *lines = head.split(b"\r\n")
    problem = _request_line_problem(request_line)
    if problem is not None:
        return problem
    if len(lines) > MAX_FIELDS:
        return RejectedRequest(431, f"more than {MAX_FIELDS} request header fields")
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            return RejectedRequest(400, "obsolete line folding in a header")
        name, colon, value = line.partition(b":")
        if not colon:
            return RejectedRequest(400, "header line without a colon")
        if name.rstrip(b" \t") != name:
            return RejectedRequest(400, "whitespace between a header name and its colon")
        if not _TOKEN.fullmatch(name):
            return RejectedRequest(400, "header name is not a token")
        if not _VALUE.fullmatch(value):
            return RejectedRequest(400, "header value contains a control character")
    return RejectedRequest(400, "malformed request head")


def _request_line_problem(line: bytes) -> RejectedRequest | None:
    parts = line.split(b" ")
    if len(parts) != 3:
        return RejectedRequest(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        return RejectedRequest(400, "method is not a token")
    if len(method) > MAX_METHOD_BYTES:
        return RejectedRequest(400, f"method longer than {MAX_METHOD_BYTES} characters")
    if len(target) > MAX_TARGET_BYTES:
        return RejectedRequest(414, f"request target exceeds {MAX_TARGET_BYTES} bytes")
    if not re.fullmatch(rb"[\x21-\x7e]+", target):
        return RejectedRequest(
            400, "request target contains a control character or a non-ASCII byte"
        )
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        # 400, not 505: bad input never counts as a server error at the canary gate.
        what = "unsupported HTTP version" if _VERSION.fullmatch(version) else "malformed"
        return RejectedRequest(400, f"{what} in the request line")
    return None


def check_partial(buf: bytearray) -> None:
    """Raise once an incomplete head is already over a limit (414 or 431)."""
    line_end = buf.find(b"\r\n", 0, _MAX_REQUEST_LINE + 2)
    if line_end == -1 and len(buf) > _MAX_REQUEST_LINE:
        if buf.find(b" ", 0, MAX_METHOD_BYTES + 1) == -1:  # no method a request line can have
            raise RejectedRequest(400, "malformed request line")
        raise RejectedRequest(414, f"request target exceeds {MAX_TARGET_BYTES} bytes")
    if len(buf) > MAX_HEAD_BYTES + 4:
        raise RejectedRequest(431, f"request header fields exceed {MAX_FIELD_BYTES} bytes")


class GuardedHttp(Http):
    """Sanic's HTTP/1.1 connection, with the head read and checked here first."""

    __slots__ = ()

    def http1_request_header(self) -> Awaitable[None]:  # type: ignore[override]
        """Check the head, then hand over to Sanic's parser.

        Not a coroutine itself: Sanic awaits what this returns, and a head
        already in the buffer (a keep-alive request's nearly always is) is
        checked here and goes straight on to Sanic's coroutine. A rejection
        raised here reaches the same handler as one raised while awaited.
        """
        buf = self.recv_buffer
        end = buf.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
        if end == -1:  # not all here yet
            return self._receive_and_parse_head()
        self._check_head(end)
        return super().http1_request_header()

    async def _receive_and_parse_head(self) -> None:
        self._check_head(await self._receive_head())
        await super().http1_request_header()

    def _check_head(self, end: int) -> None:
        check_head(self.recv_buffer, end)
        if cast(GuardedProtocol, self.protocol).over_capacity:
            raise RejectedRequest(503, "too many connections")

    async def _receive_head(self) -> int:
        """Wait for the end of the head, within the limits and the head deadline."""
        buf = self.recv_buffer
        timeout_s = cast(GuardedProtocol, self.protocol).limits.head_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (end := buf.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)) == -1:
            check_partial(buf)
            try:
                async with asyncio.timeout_at(deadline):
                    await self._receive_more()
            except TimeoutError:
                raise RejectedRequest(
                    408, f"request head not received within {timeout_s:g} s"
                ) from None
        return end

    def create_empty_request(self) -> None:
        """The request an error before parsing is answered and counted with.

        Sanic's own builds one from the raw URL, which raises again for a URL
        with a control byte (the error then escapes with four tracebacks);
        this one uses the method when it is a standard one and the path only
        when it is plain, else `*` (counted as unmatched).
        """
        method, target = _method_and_target(self.recv_buffer)
        self.request = self.protocol.request_class(
            url_bytes=target,
            headers=Header({}),
            version="1.1",
            method=method,
            # Sanic types the transport as its own protocol; asyncio's is what it holds.
            transport=cast("Any", self.protocol.transport),
            app=self.protocol.app,
        )
        self.request.stream = self


class GuardedRequest(TimedRequest):
    """The request GuardedHttp serves: a body already in the buffer is taken in one slice.

    Sanic reads a body through an async generator, one `read()` per chunk,
    even when the whole body arrived with the head (a keep-alive request's
    nearly always does). Anything else (a body still on its way, chunked,
    over the limit, `Expect: 100-continue`) takes Sanic's own path.
    """

    __slots__ = ()

    async def receive_body(self) -> None:
        http = self.stream
        if (
            not self.body
            and isinstance(http, GuardedHttp)
            and http.request_body is True  # a Content-Length body, not chunked
            and not http.expecting_continue
            and http.request_bytes <= http.request_max_size
            and len(http.recv_buffer) >= http.request_bytes_left
        ):
            buf, size = http.recv_buffer, http.request_bytes_left
            self.body = bytes(buf[:size])
            del buf[:size]
            http.request_bytes_left, http.request_body = 0, None
            return
        await super().receive_body()


def _method_and_target(buf: bytearray) -> tuple[str, bytes]:
    method, _, rest = bytes(buf[:_MAX_REQUEST_LINE]).partition(b" ")
    name = method.decode("ascii", "replace")
    if name not in telemetry.STANDARD_METHODS:
        name = telemetry.OTHER_METHOD
    target = rest.partition(b" ")[0].partition(b"?")[0]
    return name, target if _PLAIN_PATH.fullmatch(target) else b"*"


class GuardedProtocol(HttpProtocol):
    """HttpProtocol with GuardedHttp, a connection cap and a last call at shutdown."""

    HTTP_CLASS = GuardedHttp
    __slots__ = ("limits", "over_capacity")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits: Limits = self.app.ctx.limits
        self.over_capacity = False

    def close(self, timeout: float | None = None) -> None:
        """Close; with input unread, first answer, half-close and drain (`Lingering`).

        Input is left unread only after an error (a rejected head, a body not
        read). Only the close that ends the connection's task lingers, so
        nothing is written after the half-close; a later close ends it."""
        transport = self.transport
        if (
            self._task is None
            and self.recv_buffer
            and transport is not None
            and not transport.is_closing()
            and transport.can_write_eof()
        ):
            self.recv_buffer.clear()
            transport.set_protocol(Lingering(self, transport))
            return
        super().close(timeout)

    def connection_made(self, transport: Any) -> None:
        # Over the cap, the connection still gets an answer: its first request
        # (read under the head deadline) is answered 503 and the connection closed.
        self.over_capacity = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)

    def close_if_idle(self) -> bool:
        """Called by Sanic for every connection once the listener is closed.

        Sanic closes idle connections at once, which loses a request already
        on its way over a kept-alive connection. Instead: the request in
        flight, or the next one, is answered with `Connection: close`; a
        connection still idle after `LAST_CALL_S` is closed.
        """
        # Requests parsed from now on answer `Connection: close`, on every connection.
        self.app.config.KEEP_ALIVE = False
        http = self._http
        if http is None:
            self.close()
            return True
        http.keep_alive = False
        if http.stage is Stage.IDLE and not self.recv_buffer:
            self.loop.call_later(LAST_CALL_S, self._close_if_still_idle)
        return False

    def _close_if_still_idle(self) -> None:
        http = self._http
        if http is None or (http.stage is Stage.IDLE and not self.recv_buffer):
            self.close()


class Lingering(asyncio.Protocol):
    """A connection's end after an error: the answer is followed by a half-close,
    so the client reads it and closes; until then its input is discarded.

    Closing at once with input unread makes the kernel send a reset, which can
    destroy the answer before the client reads it (RFC 9112 9.6). The client's
    close, `LINGER_S` or `LINGER_MAX_BYTES` of discarded input ends it; the
    connection's own protocol is told when it is lost, as without lingering."""

    def __init__(self, owner: asyncio.BaseProtocol, transport: Any) -> None:
        self.owner, self.transport, self.discarded = owner, transport, 0
        self.timer = asyncio.get_running_loop().call_later(LINGER_S, transport.close)
        transport.write_eof()
        transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.discarded += len(data)
        if self.discarded > LINGER_MAX_BYTES:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.timer.cancel()
        self.owner.connection_lost(exc)
