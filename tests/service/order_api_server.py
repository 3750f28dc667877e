"""A real order-api process on a free loopback port, for the service tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from order_api import settings, telemetry
from rehearsal.measure.loopback import free_port

START_TIMEOUT_S = 20.0


def service_env(**overrides: str) -> dict[str, str]:
    """The test's environment without any ORDER_API_* leaking in, plus overrides.

    Shutdown delay defaults to 0 so that stopping a test server is instant.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(settings.VARIABLE_PREFIX)}
    env[settings.ENV_SHUTDOWN_DELAY_S] = "0"
    env.update(overrides)
    return env


class OrderApiServer:
    """`python -m order_api` on 127.0.0.1:<free port>, stopped with SIGTERM.

    start() returns once /api/ready answers 200, which the service does only
    after its own SIGTERM handler is installed: a SIGTERM sent from then on
    always gets the graceful sequence, never Sanic's immediate stop.
    """

    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = service_env(**env)
        self._log = tempfile.NamedTemporaryFile(prefix="order-api-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None
        self._final_log: str | None = None

    def start(self) -> OrderApiServer:
        command = [sys.executable, "-m", "order_api", "--host", "127.0.0.1", "--port"]
        self.process = subprocess.Popen(
            [*command, str(self.port)],
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"order-api exited {self.process.returncode}:\n{self.log()}")
            try:
                # Ready, not just alive: only then is the SIGTERM handler in place.
                if httpx.get(self.url + telemetry.READY_PATH, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"order-api not healthy after {START_TIMEOUT_S} s:\n{self.log()}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.terminate()
        return self.process.wait(timeout=timeout_s)

    def log(self) -> str:
        """Everything the server printed (kept after the context exits)."""
        if self._final_log is not None:
            return self._final_log
        return Path(self._log.name).read_text(errors="replace")

    def __enter__(self) -> OrderApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.stop()
        finally:
            self._final_log = self.log()
            self._log.close()


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or half-closes) its side."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def raw_exchange(server: OrderApiServer, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send bytes as they are on a new connection; return (status line, headers, body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = read_to_eof(sock)
    assert data, "no response at all"
    head, _, body = data.partition(b"\r\n\r\n")
    status, *header_lines = head.decode().split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def counter(server: OrderApiServer, method: str, path: str, status: int) -> float:
    """The current `http_requests_total` of one label set (0 when absent)."""
    text = httpx.get(server.url + telemetry.METRICS_PATH).text
    prefix = f'{telemetry.REQUESTS_TOTAL}{{method="{method}",path="{path}",status="{status}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0
