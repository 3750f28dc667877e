"""The synthesized alertmanager.yml run by the pinned Alertmanager on loopback: alerts
reach a webhook sink with their runbook link, and the inhibitions hold."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from dashboards import alerts
from dashboards.alert_routing import CONFIG_FILE, URL_KEY, alertmanager_yml
from stack.config import load_config
from stack.names import CANARY, PRIMARY, app_names
from tests.support.prerequisites import require_binary

pytestmark = pytest.mark.live

CONFIG = load_config(env={"ORDER_API_SRE_ALERTS__RECEIVER": "webhook"})
NAMES = app_names(CONFIG)
DEADLINE_S = 30
# Only the waits are shortened (30 s and 10 s would make a slow test); routes,
# receivers and inhibitions are exactly as synthesized.
TEST_WAIT = "1s"


class _Sink(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Sink", (_Sink,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts", received
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _test_config(secrets: Path) -> str:
    config = yaml.safe_load(alertmanager_yml(CONFIG))
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_wait"] = route["group_interval"] = TEST_WAIT
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url_file"] = str(secrets / URL_KEY)
    return yaml.safe_dump(config)


@pytest.fixture
def alertmanager(tmp_path: Path, sink: tuple[str, list[dict[str, Any]]]) -> Iterator[str]:
    binary = require_binary("alertmanager", "make toolchain")
    (tmp_path / URL_KEY).write_text(sink[0])
    (tmp_path / CONFIG_FILE).write_text(_test_config(tmp_path))
    port = _free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp_path / CONFIG_FILE}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "alertmanager.log").open("w"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _get(f"{url}/-/ready") is not None, "Alertmanager ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read()
    except OSError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _wait(ready: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {DEADLINE_S} s")


def _alert(alertname: str, severity: str, **labels: str) -> dict[str, Any]:
    runbook = f"{CONFIG.alerts.runbook_base_url}#{alerts.runbook_anchor(alertname)}"
    return {
        "labels": {"alertname": alertname, alerts.SEVERITY: severity,
                   "namespace": CONFIG.namespace, **labels},
        "annotations": {"summary": alertname, "description": alertname, "runbook_url": runbook},
    }  # fmt: skip


def _post(url: str, batch: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=json.dumps(batch).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _delivered(received: list[dict[str, Any]]) -> set[str]:
    return {a["labels"]["alertname"] for message in received for a in message["alerts"]}


def test_a_rollback_reaches_the_webhook_with_its_runbook(
    alertmanager: str, sink: tuple[str, list[dict[str, Any]]]
) -> None:
    received = sink[1]
    _post(alertmanager, [_alert(alerts.ROLLED_BACK, alerts.WARNING, name=NAMES.name)])
    _wait(lambda: alerts.ROLLED_BACK in _delivered(received), "the rollback alert")
    (alert,) = received[0]["alerts"]
    assert alert["annotations"]["runbook_url"].endswith(f"#{alerts.ROLLED_BACK.lower()}")
    assert received[0]["receiver"] == "on-call"


def test_down_and_rollback_inhibit_the_symptoms(
    alertmanager: str, sink: tuple[str, list[dict[str, Any]]]
) -> None:
    received = sink[1]
    primary, canary = NAMES.track_app(PRIMARY), NAMES.track_app(CANARY)
    # The rollback first: it alone inhibits the canary's latency alert.
    _post(alertmanager, [_alert(alerts.ROLLED_BACK, alerts.WARNING, name=NAMES.name),
                         _alert(alerts.HIGH_LATENCY, alerts.WARNING, app=canary),
                         _alert(alerts.HIGH_LATENCY, alerts.WARNING, app=primary)])  # fmt: skip
    _wait(lambda: {alerts.ROLLED_BACK, alerts.HIGH_LATENCY} <= _delivered(received), "alerts")
    latency = [
        a for m in received for a in m["alerts"] if a["labels"]["alertname"] == alerts.HIGH_LATENCY
    ]
    assert {a["labels"]["app"] for a in latency} == {primary}
    # Then the service goes down: its error-rate alert is inhibited.
    _post(alertmanager, [_alert(alerts.DOWN, alerts.CRITICAL),
                         _alert(alerts.HIGH_ERROR_RATE, alerts.CRITICAL, app=primary)])  # fmt: skip
    _wait(lambda: alerts.DOWN in _delivered(received), "the down alert")
    states = {
        (a["labels"]["alertname"], a["labels"].get("app")): a["status"]["inhibitedBy"]
        for a in _get(f"{alertmanager}/api/v2/alerts")
    }
    assert states[(alerts.HIGH_ERROR_RATE, primary)], states
    assert states[(alerts.HIGH_LATENCY, canary)], states
    assert not states[(alerts.DOWN, None)], states
    time.sleep(2)  # a group interval and then some: nothing inhibited was sent meanwhile
    assert alerts.HIGH_ERROR_RATE not in _delivered(received)
