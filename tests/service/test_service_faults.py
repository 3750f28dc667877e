"""Fault injection and start-up validation of the environment."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import httpx
import pytest

from order_api import telemetry
from order_api.settings import Settings, SettingsError
from tests.service.order_api_server import OrderApiServer, service_env


@pytest.mark.live
def test_error_rate_one_fails_every_valid_order_but_nothing_else() -> None:
    with OrderApiServer(ORDER_API_FAULT_ERROR_RATE="1") as server, server.client() as client:
        for _ in range(20):
            response = client.post(telemetry.ORDER_PATH, json={"item": "a", "quantity": 1})
            assert response.status_code == 500
            assert response.headers["content-type"] == "application/json"
            assert response.json() == {"error": "injected fault"}
        # Bad input stays a 4xx: faults never turn a client error into a 5xx.
        bad = client.post(telemetry.ORDER_PATH, json={"item": "", "quantity": 1})
        assert bad.status_code == 422
        for path in (telemetry.HEALTH_PATH, telemetry.READY_PATH, telemetry.VERSION_PATH):
            assert client.get(path).status_code == 200
        metrics = client.get(telemetry.METRICS_PATH)
        assert metrics.status_code == 200
        assert (
            f'{telemetry.REQUESTS_TOTAL}{{method="POST",path="/api/order",status="500"}} 20.0'
            in metrics.text
        )


@pytest.mark.live
def test_error_rate_spreads_failures_evenly() -> None:
    with OrderApiServer(ORDER_API_FAULT_ERROR_RATE="0.2") as server, server.client() as client:
        statuses = [
            client.post(telemetry.ORDER_PATH, json={"item": "a", "quantity": 1}).status_code
            for _ in range(50)
        ]
    # Every fifth order fails, from the fifth on: the first (an acceptance test) passes.
    assert [i for i, s in enumerate(statuses) if s == 500] == list(range(4, 50, 5))
    assert set(statuses) == {201, 500}


@pytest.mark.parametrize("rate", [0.01, 0.04, 0.3, 0.5, 0.999])
def test_any_run_of_orders_holds_its_share_of_failures(rate: float) -> None:
    from order_api.faults import Faults

    faults = Faults(error_rate=rate)
    fails = [faults.should_fail() for _ in range(2000)]
    assert fails[0] is False
    for k in (10, 60, 600):
        for start in range(0, 2000 - k, 97):
            window = sum(fails[start : start + k])
            assert math.floor(k * rate) <= window <= math.ceil(k * rate), (k, start, window)


@pytest.mark.live
def test_delay_slows_orders_only() -> None:
    with OrderApiServer(ORDER_API_FAULT_DELAY_MS="300") as server, server.client() as client:
        started = time.monotonic()
        response = client.post(telemetry.ORDER_PATH, json={"item": "a", "quantity": 1})
        elapsed = time.monotonic() - started
        assert response.status_code == 201
        assert elapsed >= 0.3
        started = time.monotonic()
        for path in (telemetry.HEALTH_PATH, telemetry.READY_PATH, telemetry.METRICS_PATH):
            assert client.get(path).status_code == 200
        assert time.monotonic() - started < 0.3
        # The added latency is what the histogram (and the canary gate) sees.
        metrics = client.get(telemetry.METRICS_PATH).text
        bucket = f'{telemetry.REQUEST_LATENCY}_bucket{{le="0.25",method="POST",path="/api/order"}}'
        assert f"{bucket} 0.0" in metrics


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ORDER_API_FAULT_ERROR_RATE", "1.5"),
        ("ORDER_API_FAULT_ERROR_RATE", "-0.1"),
        ("ORDER_API_FAULT_ERROR_RATE", "often"),
        ("ORDER_API_FAULT_ERROR_RATE", "nan"),
        ("ORDER_API_FAULT_DELAY_MS", "-1"),
        ("ORDER_API_FAULT_DELAY_MS", "10ms"),
        ("ORDER_API_FAULT_DELAY_MS", "inf"),
        ("ORDER_API_SHUTDOWN_DELAY_S", "-5"),
        ("ORDER_API_SHUTDOWN_DELAY_S", "five"),
        ("ORDER_API_DRAIN_TIMEOUT_S", "-1"),
        ("ORDER_API_DRAIN_TIMEOUT_S", "15s"),
        ("ORDER_API_VERSION", "1.0 beta"),
        ("ORDER_API_VERSION", "v1\r\nX-Injected: 1"),
        ("ORDER_API_BENCH_BARE", "yes"),
    ],
)
@pytest.mark.live
def test_invalid_environment_stops_start_up(name: str, value: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "order_api", "--host", "127.0.0.1", "--port", "1"],
        env=service_env(**{name: value}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr  # one line, no traceback
    assert lines[0].startswith(f"order-api: invalid {name}=")


def test_settings_defaults_and_parsing() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({}).shutdown_delay_s == 5.0
    settings = Settings.from_env(
        {
            "ORDER_API_VERSION": "1.2.3",
            "ORDER_API_FAULT_ERROR_RATE": "0.25",
            "ORDER_API_FAULT_DELAY_MS": "150",
            "ORDER_API_SHUTDOWN_DELAY_S": "0",
            "ORDER_API_DRAIN_TIMEOUT_S": "40",
            "ORDER_API_BENCH_BARE": "1",
        }
    )
    assert settings == Settings("1.2.3", 0.25, 150.0, 0.0, 40.0, True)
    # Empty means unset (a Kubernetes env entry with value "").
    assert Settings.from_env({"ORDER_API_FAULT_ERROR_RATE": ""}) == Settings()
    with pytest.raises(SettingsError, match="ORDER_API_FAULT_ERROR_RATE"):
        Settings.from_env({"ORDER_API_FAULT_ERROR_RATE": "2"})


@pytest.mark.parametrize(
    "tag", ["1.1.0", "1.1.0-canary", "1.0.0+build.7", "sha-3f2a9c1", "_latest", "v" * 128]
)
def test_any_image_tag_is_a_valid_version(tag: str) -> None:
    assert Settings.from_env({"ORDER_API_VERSION": tag}).version == tag


@pytest.mark.parametrize("version", ["v" * 129, "-1", "1.0/beta", "ü"])
def test_versions_unfit_for_a_header_or_label_are_rejected(version: str) -> None:
    with pytest.raises(SettingsError, match="ORDER_API_VERSION"):
        Settings.from_env({"ORDER_API_VERSION": version})


@pytest.mark.live
def test_client_giving_up_is_499_not_a_server_error() -> None:
    with OrderApiServer(ORDER_API_FAULT_DELAY_MS="800") as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                server.url + telemetry.ORDER_PATH, json={"item": "a", "quantity": 1}, timeout=0.2
            )
        time.sleep(1.0)  # let the abandoned handler finish
        metrics = httpx.get(server.url + telemetry.METRICS_PATH).text
    assert f'{telemetry.REQUESTS_TOTAL}{{method="POST",path="/api/order",status="499"}} 1.0' in (
        metrics
    )
    assert 'status="500"' not in metrics
    assert "Traceback" not in server.log()
