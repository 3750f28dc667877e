"""POST /bench/bare: the "guard" side of `make bench` (perf.bench).

It runs behind the same head guard, protocol and request class as the order
endpoint but does nothing and is not instrumented, so against a plain Sanic
app it shows what the guard costs. The server adds it only when started
with ORDER_API_BENCH_BARE=1.
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
