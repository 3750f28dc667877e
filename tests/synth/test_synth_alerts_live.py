"""The synthesized alertmanager.yml run by the pinned Alertmanager on loopback: alerts
reach a webhook sink with their runbook link, and the inhibitions hold."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import alerts
from dashboards.alert_routing import CONFIG_FILE, URL_KEY, alertmanager_yml
from rehearsal.measure.loopback import LOOPBACK, free_port
from stack.config import load_config
from stack.names import CANARY, PRIMARY, app_names
from tests.support.live_processes import running, wait_for
from tests.support.prerequisites import require_binary

pytestmark = pytest.mark.live

# Only the waits are shortened, through their settings (30 s and 10 s would make a
# slow test); routes, receivers and inhibitions are exactly as synthesized.
TEST_WAIT = "1s"
CONFIG = load_config(
    env={
        "ORDER_API_SRE_ALERTS__RECEIVER": "webhook",
        "ORDER_API_SRE_ALERTS__GROUP_WAIT": TEST_WAIT,
        "ORDER_API_SRE_ALERTS__CRITICAL_GROUP_WAIT": TEST_WAIT,
        "ORDER_API_SRE_ALERTS__GROUP_INTERVAL": TEST_WAIT,
    }
)
NAMES = app_names(CONFIG)
DEADLINE_S = 30
SINK_PATH = "/alerts"


@dataclass(frozen=True)
class Sink:
    """The project's webhook sink (cluster.webhook_sink, the pod of the cluster's
    alert proof), run as a process on loopback."""

    url: str

    def received(self) -> list[dict[str, Any]]:
        """The bodies Alertmanager posted, oldest first."""
        return [r["body"] for r in _get(f"{self.url}{SINK_PATH}") or []]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    port = free_port()
    log = tmp_path / "sink.log"
    argv = [sys.executable, "-m", "cluster.webhook_sink", "--host", LOOPBACK, "--port", str(port)]
    with running(argv, log):
        url = f"http://{LOOPBACK}:{port}"
        wait_for(lambda: _get(f"{url}/") == [], what="the webhook sink", log=log)
        yield Sink(url)


def _test_config(secrets: Path) -> str:
    config = yaml.safe_load(alertmanager_yml(CONFIG))
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url_file"] = str(secrets / URL_KEY)
    return yaml.safe_dump(config)


@pytest.fixture
def alertmanager(tmp_path: Path, sink: Sink) -> Iterator[str]:
    binary = require_binary("alertmanager", "make toolchain")
    (tmp_path / URL_KEY).write_text(f"{sink.url}{SINK_PATH}")
    (tmp_path / CONFIG_FILE).write_text(_test_config(tmp_path))
    port = free_port()
    argv = [binary, f"--config.file={tmp_path / CONFIG_FILE}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address={LOOPBACK}:{port}", "--cluster.listen-address="]  # fmt: skip
    log = tmp_path / "alertmanager.log"
    with running(argv, log):
        url = f"http://{LOOPBACK}:{port}"
        wait_for(lambda: _get(f"{url}/-/ready") is not None, what="Alertmanager", log=log)
        yield url


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


def _delivered(sink: Sink) -> set[str]:
    return {a["labels"]["alertname"] for message in sink.received() for a in message["alerts"]}


def test_a_rollback_reaches_the_webhook_with_its_runbook(alertmanager: str, sink: Sink) -> None:
    _post(alertmanager, [_alert(alerts.ROLLED_BACK, alerts.WARNING, name=NAMES.name)])
    _wait(lambda: alerts.ROLLED_BACK in _delivered(sink), "the rollback alert")
    received = sink.received()
    (alert,) = received[0]["alerts"]
    assert alert["annotations"]["runbook_url"].endswith(f"#{alerts.ROLLED_BACK.lower()}")
    assert received[0]["receiver"] == "on-call"


def test_down_and_rollback_inhibit_the_symptoms(alertmanager: str, sink: Sink) -> None:
    primary, canary = NAMES.track_app(PRIMARY), NAMES.track_app(CANARY)
    # The rollback first: it alone inhibits the canary's latency alert.
    _post(alertmanager, [_alert(alerts.ROLLED_BACK, alerts.WARNING, name=NAMES.name),
                         _alert(alerts.HIGH_LATENCY, alerts.WARNING, app=canary),
                         _alert(alerts.HIGH_LATENCY, alerts.WARNING, app=primary)])  # fmt: skip
    _wait(lambda: {alerts.ROLLED_BACK, alerts.HIGH_LATENCY} <= _delivered(sink), "alerts")
    latency = [
        a
        for m in sink.received()
        for a in m["alerts"]
        if a["labels"]["alertname"] == alerts.HIGH_LATENCY
    ]
    assert {a["labels"]["app"] for a in latency} == {primary}
    # Then the service goes down: its error-rate alert is inhibited.
    _post(alertmanager, [_alert(alerts.DOWN, alerts.CRITICAL),
                         _alert(alerts.HIGH_ERROR_RATE, alerts.CRITICAL, app=primary)])  # fmt: skip
    _wait(lambda: alerts.DOWN in _delivered(sink), "the down alert")
    states = {
        (a["labels"]["alertname"], a["labels"].get("app")): a["status"]["inhibitedBy"]
        for a in _get(f"{alertmanager}/api/v2/alerts")
    }
    assert states[(alerts.HIGH_ERROR_RATE, primary)], states
    assert states[(alerts.HIGH_LATENCY, canary)], states
    assert not states[(alerts.DOWN, None)], states
    time.sleep(2)  # a group interval and then some: nothing inhibited was sent meanwhile
    assert alerts.HIGH_ERROR_RATE not in _delivered(sink)
