"""Graceful shutdown on SIGTERM, in the order a router behind Kubernetes needs.

1. Readiness answers 503 at once, so the endpoint is taken out of rotation.
   Kept-alive connections stay open: closing them now would only make every
   client reconnect for every request and fill the accept queue.
2. The server keeps serving for ORDER_API_SHUTDOWN_DELAY_S: traffic routed
   before the endpoint update propagated still succeeds.
3. At the end of the delay, connections already in the kernel's accept queue
   are accepted, then the listener closes. From then on every response
   carries `Connection: close`; a connection idle for LAST_CALL_S more is
   closed (see GuardedProtocol.close_if_idle), so a request already on its
   way over a kept-alive connection is still answered.
4. Requests in flight get ORDER_API_DRAIN_TIMEOUT_S to finish; the process
   exits 0 once they are done.

SIGINT (Ctrl-C in `make run`) keeps Sanic's own immediate graceful stop.
"""

from __future__ import annotations

import asyncio
import select
import signal
import socket
import time
from dataclasses import dataclass

from sanic import Sanic
from sanic.log import logger

# Bound on waiting for the accept queue to empty at the end of the delay.
ACCEPT_QUEUE_WAIT_S = 1.0


@dataclass(slots=True)
class Lifecycle:
    """Shared shutdown state; the readiness probe reads it."""

    # Set once order-api's SIGTERM handler is installed: readiness stays 503
    # before, or an early SIGTERM would reach Sanic's immediate stop.
    started: bool = False
    draining: bool = False


def install(
    app: Sanic,
    lifecycle: Lifecycle,
    *,
    delay_s: float,
    drain_timeout_s: float,
    listener: socket.socket | None,
) -> None:
    """Replace Sanic's SIGTERM handler once the server listens."""
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = drain_timeout_s

    def on_sigterm() -> None:
        if lifecycle.draining:
            return  # a repeated SIGTERM must not cut the delay short
        lifecycle.draining = True
        logger.info("SIGTERM: not ready; serving %.1f s more, then draining", delay_s)
        asyncio.get_running_loop().call_later(delay_s, app.stop, False)

    @app.after_server_start
    async def _install_sigterm(app: Sanic) -> None:
        # Runs after Sanic registered its own handlers, so this one wins.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
        lifecycle.started = True

    @app.before_server_stop
    async def _empty_accept_queue(app: Sanic) -> None:
        # Keep-alive stays on until the listener is closed: a `Connection:
        # close` now would send clients back into the queue being emptied.
        if listener is not None:
            await accept_queued(listener)
        logger.info("closing the listener; draining for up to %.1f s", drain_timeout_s)


async def accept_queued(listener: socket.socket) -> None:
    """Let the server accept what the kernel queued, before the listener closes.

    Closing a listener resets every connection still in its accept queue,
    although those clients have sent their requests already.
    """
    deadline = time.monotonic() + ACCEPT_QUEUE_WAIT_S
    while time.monotonic() < deadline and _has_pending(listener):
        await asyncio.sleep(0.005)  # the event loop accepts meanwhile


def _has_pending(listener: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([listener], [], [], 0)
    except (OSError, ValueError):  # already closed
        return False
    return bool(readable)
