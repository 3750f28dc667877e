"""JSON error bodies for every failure, including the ones Sanic raises itself.

Clients (and the SREs reading logs) always get `{"error": ...}` as JSON, never
Sanic's HTML/text pages; validation failures add `details`.
"""

from __future__ import annotations

from asyncio import CancelledError
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus

from sanic import HTTPResponse, Request, json
from sanic.exceptions import SanicException, ServiceUnavailable
from sanic.handlers import ErrorHandler
from sanic.log import logger

from order_api import telemetry

# Sanic rejects larger bodies with 413 before any handler runs.
MAX_BODY_BYTES = 16 * 1024
# nginx's code for "the client went away before the response": counted as a
# 4xx, so impatient clients never look like server errors to the canary gate.
CLIENT_CLOSED_REQUEST = 499


class RejectedRequest(SanicException):
    """A request refused before routing; its message is fixed text, never client input."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status_code=status, quiet=True)


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


def error_response(
    status: int,
    message: str,
    *,
    details: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> HTTPResponse:
    body: dict[str, object] = {"error": message}
    if details:
        body["details"] = [{"field": d.field, "message": d.message} for d in details]
    return json(body, status=status, headers=dict(headers or {}))


def _message(request: Request, status: int) -> str:
    """A fixed, client-safe message per status (never the raw URL or a trace)."""
    match status:
        case 404:
            return "not found"
        case 405:
            # Only a standard method is named: anything else is client input.
            if request.method in telemetry.STANDARD_METHODS:
                return f"method {request.method} not allowed"
            return "method not allowed"
        case 413:
            return f"request body exceeds {MAX_BODY_BYTES} bytes"
        case 499:
            return "client closed request"
        case _:
            try:
                return HTTPStatus(status).phrase.lower()
            except ValueError:
                return "error"


class JsonErrorHandler(ErrorHandler):
    """Renders every exception as a JSON error body.

    `on_response` sees every response rendered here (404/405 before routing,
    413 while reading the body, unexpected exceptions): these never pass
    through an instrumented handler, so this is where they get counted.
    """

    def __init__(
        self, on_response: Callable[[Request, HTTPResponse], None], *, response_timeout_s: float
    ) -> None:
        super().__init__()
        self._on_response = on_response
        self._response_timeout_s = response_timeout_s

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        headers = None
        if isinstance(exception, SanicException):
            status = exception.status_code
            headers = exception.headers  # e.g. Allow on 405
        elif isinstance(exception, CancelledError):  # Sanic's RequestCancelled
            status = CLIENT_CLOSED_REQUEST
        else:
            status = 500
        if isinstance(exception, RejectedRequest):
            message = str(exception)
        elif isinstance(exception, ServiceUnavailable):  # Sanic's response timeout
            message = f"no response within {self._response_timeout_s:g} s"
            route = request.route.uri if request.route is not None else telemetry.UNMATCHED_PATH
            logger.warning("%s %s: %s", request.method, route, message)  # one line, no trace
        else:
            message = _message(request, status)
            if status >= 500:
                self.log(request, exception)  # a bug or an outage: keep the traceback
        response = error_response(status, message, headers=headers)
        self._on_response(request, response)
        return response
