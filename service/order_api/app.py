"""The Sanic application factory: wires settings, routes, metrics and shutdown."""

from __future__ import annotations

import itertools
import socket

from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from sanic import Sanic

from order_api import bare, metrics, orders, probes, shutdown, telemetry
from order_api.errors import MAX_BODY_BYTES, JsonErrorHandler
from order_api.faults import Faults
from order_api.protocol import SANIC_HEADER_MAX_SIZE, GuardedProtocol, GuardedRequest, Limits
from order_api.settings import Settings

# What app.run() must be given to serve through the head checks and limits.
PROTOCOL = GuardedProtocol

# Sanic keeps a process-wide registry of apps by name; tests create several.
_app_ids = itertools.count(1)


def create_app(settings: Settings, listener: socket.socket | None = None) -> Sanic:
    """The app; `listener` is the socket it will serve (its accept queue is drained at shutdown)."""
    # The `_created` series double the series count and no query here uses them.
    disable_created_metrics()
    registry = CollectorRegistry()
    # CPU, memory and fd usage of this process, next to the request metrics.
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    lifecycle = shutdown.Lifecycle()
    instrumentation = metrics.Instrumentation(
        telemetry.create_metrics(registry, version=settings.version),
        version=settings.version,
    )

    app = Sanic(
        f"order_api_{next(_app_ids)}",
        request_class=GuardedRequest,
        error_handler=JsonErrorHandler(
            on_response=instrumentation.record, response_timeout_s=settings.response_timeout_s
        ),
    )
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    # GuardedHttp enforces the head limits; Sanic's must never trip first.
    app.config.REQUEST_MAX_HEADER_SIZE = SANIC_HEADER_MAX_SIZE
    # Sanic declares it an int, but reads it as seconds of any precision.
    app.config.update(RESPONSE_TIMEOUT=settings.response_timeout_s)
    app.ctx.limits = Limits(
        head_timeout_s=settings.head_timeout_s, max_connections=settings.max_connections
    )
    app.config.ACCESS_LOG = False  # the metrics are the access record
    app.config.MOTD = False

    app.blueprint(
        orders.create_blueprint(settings, Faults.from_settings(settings), instrumentation)
    )
    app.blueprint(probes.create_blueprint(settings, lifecycle, instrumentation))
    app.blueprint(metrics.create_blueprint(registry, instrumentation))
    if settings.bench_bare:
        app.blueprint(bare.create_bare_blueprint())
    shutdown.install(
        app,
        lifecycle,
        delay_s=settings.shutdown_delay_s,
        drain_timeout_s=settings.drain_timeout_s,
        listener=listener,
    )
    return app
