"""Probe, version and header behaviour of a running order-api."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from order_api import __version__, telemetry
from tests.service.order_api_server import OrderApiServer


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with OrderApiServer() as server, server.client() as client:
        yield client


def test_health(client: httpx.Client) -> None:
    response = client.get(telemetry.HEALTH_PATH)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready(client: httpx.Client) -> None:
    response = client.get(telemetry.READY_PATH)
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


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
def test_every_response_carries_the_version_header(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path, json={"item": "a", "quantity": 1})
    assert response.headers[telemetry.VERSION_HEADER] == __version__


@pytest.mark.parametrize(
    "path", [telemetry.HEALTH_PATH, telemetry.READY_PATH, telemetry.VERSION_PATH]
)
def test_probes_are_json(client: httpx.Client, path: str) -> None:
    assert client.get(path).headers["content-type"] == "application/json"


def test_custom_version_is_served_everywhere() -> None:
    with OrderApiServer(ORDER_API_VERSION="1.1.0-canary") as server, server.client() as client:
        response = client.get(telemetry.VERSION_PATH)
        assert response.json() == {"version": "1.1.0-canary"}
        assert response.headers[telemetry.VERSION_HEADER] == "1.1.0-canary"
        order = client.post(telemetry.ORDER_PATH, json={"item": "a", "quantity": 1})
        assert order.json()["version"] == "1.1.0-canary"
        metrics = client.get(telemetry.METRICS_PATH).text
        assert f'{telemetry.BUILD_INFO}{{version="1.1.0-canary"}} 1.0' in metrics
