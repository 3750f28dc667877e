"""The Sanic application factory: wires settings, routes, metrics and shutdown."""

from __future__ import annotations

import itertools

from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from sanic import Blueprint, Sanic

from order_api import bench, metrics, orders, probes, shutdown, telemetry
from order_api.errors import MAX_BODY_BYTES, JsonErrorHandler
from order_api.faults import Faults
from order_api.settings import Settings

# Route templates the instrumented blueprints serve (all static).
API_TEMPLATES = (
    telemetry.ORDER_PATH,
    telemetry.HEALTH_PATH,
    telemetry.READY_PATH,
    telemetry.VERSION_PATH,
    telemetry.METRICS_PATH,
)

# Sanic keeps a process-wide registry of apps by name; tests create several.
_app_ids = itertools.count(1)


def create_app(settings: Settings) -> Sanic:
    # The `_created` series double the series count and no query here uses them.
    disable_created_metrics()
    registry = CollectorRegistry()
    # CPU, memory and fd usage of this process, next to the request metrics.
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    record = metrics.create_recorder(
        telemetry.create_metrics(registry, version=settings.version),
        version=settings.version,
        templates=API_TEMPLATES,
    )
    lifecycle = shutdown.Lifecycle()

    app = Sanic(
        f"order_api_{next(_app_ids)}",
        request_class=metrics.TimedRequest,
        error_handler=JsonErrorHandler(on_unrouted=record),
    )
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.ACCESS_LOG = False  # the metrics are the access record
    app.config.MOTD = False

    api = Blueprint.group(
        orders.create_blueprint(settings, Faults.from_settings(settings)),
        probes.create_blueprint(settings, lifecycle),
        metrics.create_blueprint(registry),
    )
    # Route-scoped middleware: instruments the API routes only, never /bench/bare.
    api.middleware(record, "response")
    app.blueprint(api)
    if settings.bench_bare:
        app.blueprint(bench.create_bare_blueprint())
    shutdown.install(app, lifecycle, settings.shutdown_delay_s)
    return app
