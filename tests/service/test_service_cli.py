"""The `order-api` console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from order_api import __version__, settings
from tests.service.order_api_server import OrderApiServer, service_env


def order_api_script() -> str:
    script = shutil.which("order-api") or str(Path(sys.executable).with_name("order-api"))
    assert Path(script).exists(), "console script not installed: pip install -e ."
    return script


@pytest.mark.live
def test_console_script_help() -> None:
    completed = subprocess.run(
        [order_api_script(), "--help"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert "--host" in completed.stdout and "--port" in completed.stdout
    assert "0.0.0.0" in completed.stdout and "8080" in completed.stdout
    # Every setting is listed; argparse may wrap the epilog anywhere.
    epilog = " ".join(completed.stdout.split())
    for name in (
        settings.ENV_VERSION,
        settings.ENV_FAULT_ERROR_RATE,
        settings.ENV_FAULT_DELAY_MS,
        settings.ENV_SHUTDOWN_DELAY_S,
        settings.ENV_DRAIN_TIMEOUT_S,
        settings.ENV_HEAD_TIMEOUT_S,
        settings.ENV_MAX_CONNECTIONS,
        settings.ENV_RESPONSE_TIMEOUT_S,
    ):
        assert name in epilog
    assert f"{settings.ENV_DRAIN_TIMEOUT_S} (>=0, default 15)" in epilog


@pytest.mark.live
@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_bad_port_is_a_usage_error(port: str) -> None:
    completed = subprocess.run(
        [order_api_script(), "--port", port], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 2
    assert "invalid port" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.live
def test_port_in_use_is_a_one_line_error() -> None:
    with OrderApiServer() as server:
        completed = subprocess.run(
            [order_api_script(), "--host", "127.0.0.1", "--port", str(server.port)],
            env=service_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert completed.returncode == 1
    assert completed.stderr.startswith(f"order-api: cannot listen on 127.0.0.1:{server.port}")
    assert "Traceback" not in completed.stderr


@pytest.mark.live
def test_version_flag() -> None:
    completed = subprocess.run(
        [order_api_script(), "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert completed.stdout == f"order-api {__version__}\n"


@pytest.mark.live
def test_start_up_log_names_the_address() -> None:
    with OrderApiServer() as server:
        log = server.log()
    assert f"order-api {__version__} listening on http://127.0.0.1:{server.port}" in log
