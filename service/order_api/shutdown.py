"""Graceful shutdown on SIGTERM, in the order a router behind Kubernetes needs.

1. Readiness answers 503 at once, so the endpoint is taken out of rotation.
2. The server keeps serving for ORDER_API_SHUTDOWN_DELAY_S: traffic routed
   before the endpoint update propagated still succeeds.
3. Sanic stops accepting, drains the requests in flight and the process exits 0.

SIGINT (Ctrl-C in `make run`) keeps Sanic's own immediate graceful stop.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

from sanic import Request, Sanic
from sanic.log import logger


@dataclass(slots=True)
class Lifecycle:
    """Shared shutdown state; the readiness probe and the response wrapper read it."""

    draining: bool = False


def release_connection(request: Request) -> None:
    """Answer this request with `Connection: close`.

    Sanic decides keep-alive when it reads a request's head, so a request
    accepted before SIGTERM would answer `keep-alive`; a client that keeps
    that connection (Traefik does) would then hold the drain open until its
    timeout, and could still send new requests over it.
    """
    stream = request.stream
    if stream is not None:
        stream.keep_alive = False


def install(app: Sanic, lifecycle: Lifecycle, *, delay_s: float, drain_timeout_s: float) -> None:
    """Replace Sanic's SIGTERM handler once the server listens."""
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = drain_timeout_s

    def on_sigterm() -> None:
        if lifecycle.draining:
            return  # a repeated SIGTERM must not cut the delay short
        lifecycle.draining = True
        # Answer with "Connection: close" from now on, so keep-alive clients
        # reconnect (to another endpoint) instead of reusing this one.
        app.config.KEEP_ALIVE = False
        logger.info("SIGTERM: not ready; serving %.1f s more, then draining", delay_s)
        asyncio.get_running_loop().call_later(delay_s, app.stop, False)

    @app.after_server_start
    async def _install_sigterm(app: Sanic) -> None:
        # Runs after Sanic registered its own handlers, so this one wins.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
