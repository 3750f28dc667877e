"""The one launcher of real order-api processes on loopback."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

from order_api import telemetry
from order_api.settings import ENV_SHUTDOWN_DELAY_S, ENV_VERSION
from rehearsal.failures import ComponentError
from rehearsal.measure.loopback import LOOPBACK
from rehearsal.model.child_processes import (
    PortTaken,
    Process,
    ProcessGroup,
    wait_http,
    with_free_ports,
)


class AppDidNotBoot(ComponentError):
    """order-api exited before it was ready (a bad setting, a crash at start)."""


@dataclass(frozen=True)
class OrderApi:
    """A running order-api process."""

    process: Process
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


def start_order_api(
    group: ProcessGroup,
    *,
    name: str,
    version: str,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 20.0,
) -> OrderApi:
    """Start a real order-api process on a free port and wait until it is ready."""

    def start(ports: list[int]) -> OrderApi:
        (port,) = ports
        process = group.start(
            name,
            [sys.executable, "-m", "order_api", "--host", LOOPBACK, "--port", str(port)],
            # No shutdown delay: nothing routes to a stopped track any more.
            env={ENV_VERSION: version, ENV_SHUTDOWN_DELAY_S: "0", **(env or {})},
        )
        app = OrderApi(process=process, port=port)
        try:
            wait_http(app.url + telemetry.READY_PATH, process, timeout=timeout_s)
        except PortTaken:
            group.discard(process)
            raise
        except ComponentError as exc:
            if not process.alive():
                raise AppDidNotBoot(str(exc)) from None
            raise
        return app

    return with_free_ports(1, start, name)
