"""POST /bench/bare: the uninstrumented baseline `make bench` measures against.

It runs on the same Sanic stack as the order endpoint but does nothing, so
it shows the framework's ceiling on this machine. The server adds it only
when started with ORDER_API_BENCH_BARE=1.
"""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request, raw

BARE_PATH = "/bench/bare"


def create_bare_blueprint() -> Blueprint:
    """POST /bench/bare: a constant reply with no validation and no metrics."""
    bp = Blueprint("bench")

    @bp.post(BARE_PATH)
    async def bare(request: Request) -> HTTPResponse:
        return raw(b"{}", status=201, content_type="application/json")

    return bp
