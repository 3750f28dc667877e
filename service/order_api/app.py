"""The Sanic application factory: wires settings, routes, metrics and shutdown."""

from __future__ import annotations

import itertools

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
from order_api.settings import Settings

# Sanic keeps a process-wide registry of apps by name; tests create several.
_app_ids = itertools.count(1)


def create_app(settings: Settings) -> Sanic:
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
        lifecycle=lifecycle,
    )

    app = Sanic(
        f"order_api_{next(_app_ids)}",
        request_class=metrics.TimedRequest,
        error_handler=JsonErrorHandler(on_response=instrumentation.record),
    )
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
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
    )
    return app
