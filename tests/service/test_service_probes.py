"""Probe, version and header behaviour of a running order-api."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest

from order_api import __version__, telemetry
from order_api.app import create_app
from order_api.settings import Settings
from tests.service.order_api_server import OrderApiServer


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with OrderApiServer() as server, server.client() as client:
        yield client


@pytest.mark.live
def test_health(client: httpx.Client) -> None:
    response = client.get(telemetry.HEALTH_PATH)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.live
def test_ready(client: httpx.Client) -> None:
    response = client.get(telemetry.READY_PATH)
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.live
def test_version_defaults_to_the_package_version(client: httpx.Client) -> None:
    response = client.get(telemetry.VERSION_PATH)
    assert response.status_code == 200
    assert response.json() == {"version": __version__}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", telemetry.HEALTH_PATH),
        ("GET", telemetry.READY_PATH),
        ("GET", telemetry.VERSION_PATH),
        ("GET", telemetry.METRICS_PATH),
        ("POST", telemetry.ORDER_PATH),
        ("GET", "/missing"),
        ("DELETE", telemetry.HEALTH_PATH),
    ],
)
@pytest.mark.live
def test_every_response_carries_the_version_header(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path, json={"item": "a", "quantity": 1})
    assert response.headers[telemetry.VERSION_HEADER] == __version__


@pytest.mark.parametrize(
    "path", [telemetry.HEALTH_PATH, telemetry.READY_PATH, telemetry.VERSION_PATH]
)
@pytest.mark.live
def test_probes_are_json(client: httpx.Client, path: str) -> None:
    assert client.get(path).headers["content-type"] == "application/json"


@pytest.mark.live
def test_custom_version_is_served_everywhere() -> None:
    with OrderApiServer(ORDER_API_VERSION="1.1.0-canary") as server, server.client() as client:
        response = client.get(telemetry.VERSION_PATH)
        assert response.json() == {"version": "1.1.0-canary"}
        assert response.headers[telemetry.VERSION_HEADER] == "1.1.0-canary"
        order = client.post(telemetry.ORDER_PATH, json={"item": "a", "quantity": 1})
        assert order.json()["version"] == "1.1.0-canary"
        metrics = client.get(telemetry.METRICS_PATH).text
        assert f'{telemetry.BUILD_INFO}{{version="1.1.0-canary"}} 1.0' in metrics


@pytest.mark.live
@pytest.mark.parametrize(
    "path", [telemetry.HEALTH_PATH, telemetry.READY_PATH, telemetry.VERSION_PATH]
)
def test_head_on_a_probe_is_get_without_the_body(client: httpx.Client, path: str) -> None:
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == "application/json"
    assert head.headers[telemetry.VERSION_HEADER] == __version__
    metrics = client.get(telemetry.METRICS_PATH).text
    assert f'{telemetry.REQUESTS_TOTAL}{{method="HEAD",path="{path}",status="200"}} 1.0' in metrics


def test_not_ready_before_the_sigterm_handler_is_installed() -> None:
    # Sanic accepts requests while its start-up listeners run; a SIGTERM
    # before order-api's handler is installed would stop it at once, so
    # readiness must not say 200 until then.
    app = create_app(Settings())
    handler = next(route.handler for route in app.router.routes if route.name.endswith(".ready"))
    response = asyncio.run(handler(SimpleNamespace(started=time.perf_counter())))
    assert response.status == 503
    assert json.loads(response.body) == {"status": "starting"}
