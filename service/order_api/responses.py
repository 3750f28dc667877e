"""Responses whose status line and fixed headers are rendered once, at start-up.

Sanic renders every header of every response again (sanitize, encode, format,
one by one). A `PreparedHead` holds those bytes for one status and one set of
fixed headers; a `PreparedResponse` sends itself as the head, its content
length, the connection header and the body, in one write: the bytes
Sanic's own path writes for the same response, in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sanic import HTTPResponse
from sanic.compat import Header
from sanic.headers import format_http1_response
from sanic.http import Http, Stage

_CONNECTION = {True: "keep-alive", False: "close"}


@dataclass(frozen=True, slots=True)
class PreparedHead:
    """The head of every response of one status, fixed headers and content type."""

    status: int
    headers: Mapping[str, str]
    content_type: str
    # Status line and fixed headers, up to the content length's value.
    prefix: bytes
    # The rest of the head after the content length, by keep-alive.
    suffix: Mapping[bool, bytes]

    @classmethod
    def render(cls, status: int, headers: Mapping[str, str], content_type: str) -> PreparedHead:
        """Render with Sanic's own formatter, in the order Sanic sends the headers."""
        fixed = [(name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()]
        start = format_http1_response(status, fixed).removesuffix(b"\r\n")
        suffix = {
            keep_alive: b"\r\nconnection: %b\r\ncontent-type: %b\r\n\r\n"
            % (connection.encode("ascii"), content_type.encode("ascii"))
            for keep_alive, connection in _CONNECTION.items()
        }
        return cls(status, dict(headers), content_type, start + b"content-length: ", suffix)

    def respond(self, body: bytes) -> PreparedResponse:
        return PreparedResponse(self, body)

    def wire(self, body: bytes, *, keep_alive: bool) -> bytes:
        """The whole response as it goes on the wire."""
        return b"%b%d%b%b" % (self.prefix, len(body), self.suffix[keep_alive], body)


class PreparedResponse(HTTPResponse):
    """An HTTPResponse with a `PreparedHead`.

    Its `headers` start empty and its fixed headers live in the head; should it
    take Sanic's generic path (see `send`), `materialize()` puts them back.
    """

    __slots__ = ("head", "materialized")

    def __init__(self, head: PreparedHead, body: bytes) -> None:
        # HTTPResponse.__init__ builds two Header objects and re-checks the body.
        self.asgi = False
        self.body = body
        self.content_type = head.content_type
        self.stream = None
        self.status = head.status
        self.headers = Header()
        self._cookies = None
        self.head = head
        self.materialized = False

    async def send(self, data: Any = None, end_stream: bool | None = None) -> None:
        """Sanic calls this once, with no data, to send the whole response.

        That call, on an HTTP/1.1 connection that has sent nothing of this
        response yet, writes it in one piece, as Sanic's http1_response_header
        would; any other takes Sanic's path with the headers materialized.
        """
        http = self.stream
        if (
            data is None
            and end_stream
            and isinstance(http, Http)
            and http.stage is Stage.HANDLER
            and http.response is self
            and not http.head_only
            and not http.expecting_continue
            and not self.headers
        ):
            body = self.body or b""
            http.response_size = len(body)
            http.response_func = None  # type: ignore[assignment]  # as Sanic does
            await http._send(self.head.wire(body, keep_alive=http.keep_alive))
            http.stage = Stage.IDLE
            return
        self.materialize()
        await super().send(data, end_stream)

    def materialize(self) -> None:
        """Make the fixed headers ordinary headers again (first, as Sanic orders them)."""
        if self.materialized:
            return
        self.materialized = True
        extra = list(self.headers.items())
        self.headers = Header(self.head.headers)
        for name, value in extra:
            self.headers.add(name, value)
