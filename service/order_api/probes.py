"""Liveness, readiness and version endpoints."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request, json

from order_api import telemetry
from order_api.metrics import Instrumentation
from order_api.settings import Settings
from order_api.shutdown import Lifecycle


def create_blueprint(
    settings: Settings, lifecycle: Lifecycle, instrumentation: Instrumentation
) -> Blueprint:
    bp = Blueprint("probes")

    # HEAD beside GET: a probe or a monitor may check with either.
    @instrumentation.route(bp, "HEAD", telemetry.HEALTH_PATH)
    @instrumentation.route(bp, "GET", telemetry.HEALTH_PATH)
    async def health(request: Request) -> HTTPResponse:
        # Liveness stays 200 while draining: a restart would drop in-flight work.
        return json({"status": "ok"})

    @instrumentation.route(bp, "HEAD", telemetry.READY_PATH)
    @instrumentation.route(bp, "GET", telemetry.READY_PATH)
    async def ready(request: Request) -> HTTPResponse:
        if lifecycle.draining:
            return json({"status": "shutting down"}, status=503)
        if not lifecycle.started:  # SIGTERM would not be handled gracefully yet
            return json({"status": "starting"}, status=503)
        return json({"status": "ready"})

    @instrumentation.route(bp, "HEAD", telemetry.VERSION_PATH)
    @instrumentation.route(bp, "GET", telemetry.VERSION_PATH)
    async def version(request: Request) -> HTTPResponse:
        return json({"version": settings.version})

    return bp
