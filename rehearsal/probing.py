"""HTTP polling of the local components (stdlib only, loopback only)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from rehearsal.processes import ComponentError, PortTaken, Process


def http_get(url: str, *, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET `url`; returns (status, body) for any HTTP answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(url: str, process: Process, *, timeout: float = 20.0, expect: int = 200) -> None:
    """Poll `url` until it answers `expect`; fail early if the process died.

    A process that died because its port was taken raises PortTaken, so the
    caller can start it again on another port.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            if process.lost_port_race():
                raise PortTaken(f"{process.name}: port taken before it could bind ({url})")
            raise ComponentError(
                f"{process.name} exited with {process.popen.returncode} before answering "
                f"{url}:\n{process.log_tail()}"
            )
        try:
            if http_get(url, timeout=1.0)[0] == expect:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ComponentError(f"{process.name} did not answer {expect} at {url} in {timeout:.0f}s")
