"""Traefik's kubernetescrd provider serves dist/'s IngressRoute and Middlewares
with the TraefikService Flagger generated."""

from __future__ import annotations

import json
import re
import time

import pytest

from cluster.client import get_json
from tests.cluster import inside

pytestmark = pytest.mark.live
HOST = "order-api.example.com"
ORDER = json.dumps({"item": "cluster-test", "quantity": 1})
JSON = {"Host": HOST, "Content-Type": "application/json"}


def _traefik_url() -> str:
    ip = get_json("service", "traefik", "-n", "traefik")["spec"]["clusterIP"]
    return f"http://{ip}/api/order"


def _primary_requests() -> float:
    """Traefik's own count of 201s it sent to the primary service."""
    pod = get_json("pods", "-n", "traefik")["items"][0]
    text = inside.get(f"http://{pod['status']['podIP']}:9100/metrics").body
    pattern = re.compile(
        r'^traefik_service_requests_total\{[^}]*code="201"[^}]*'
        r'service="sre-demo-order-api-primary-80@kubernetescrd"[^}]*\} (\S+)$',
        re.M,
    )
    return sum(float(v) for v in pattern.findall(text))


def _route_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while inside.post(url, ORDER, **JSON).status != 201 and time.monotonic() < deadline:
        time.sleep(1)


def test_order_through_traefik_is_served_by_the_primary(cluster):
    url = _traefik_url()
    _route_ready(url)
    before = _primary_requests()
    response = inside.post(url, ORDER, **JSON)
    assert response.status == 201, response
    assert response.json()["item"] == "cluster-test"
    assert _primary_requests() == before + 1


def test_security_headers(cluster):
    response = inside.post(_traefik_url(), ORDER, **JSON)
    headers = {k.lower(): v for k, v in response.headers.items()}
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "server" not in headers and "x-powered-by" not in headers


def test_body_over_the_limit_is_413(cluster):
    big = json.dumps({"item": "x" * 20_000, "quantity": 1})
    assert inside.post(_traefik_url(), big, **JSON).status == 413


def test_burst_over_the_rate_limit_gets_429(cluster):
    # 600 orders as fast as 20 threads send them: above the 200 burst + 100/s.
    url = _traefik_url()
    requests = [{"method": "POST", "url": url, "body": ORDER, "headers": JSON}] * 600
    statuses = [r.status for r in inside.send(requests, concurrency=20, timeout=120)]
    assert statuses.count(429) > 0, statuses
    assert statuses.count(201) >= 200
    assert set(statuses) <= {201, 429}
