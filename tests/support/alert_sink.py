"""The alert proof's receiver: the project's webhook sink (cluster/webhook_sink.py) as a
pod, the Secrets that point Flagger's AlertProvider and Alertmanager's webhook at it,
and what it recorded.

alert_sink_values.yaml names the sink (`alerts.receiver_app`, `receiver_port`) and
Flagger's event webhook URL; `add_sink` writes the sink's Deployment and Service
and the two Secrets into a synthesized release folder, so the rehearsal's first
apply creates them beside the release.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from cluster.webhook_sink import SINK_IMAGE
from dashboards.alert_routing import URL_KEY
from stack.config import StackConfig, load_config
from stack.names import SELECTOR_LABEL
from synth.charts.canary import ADDRESS_KEY

VALUES = Path(__file__).with_name("alert_sink_values.yaml")
# Where the Secrets send Flagger's AlertProvider and Alertmanager (the event
# webhook's path is in the values file).
FLAGGER_ALERTS_PATH = "/flagger/alerts"
ALERTMANAGER_PATH = "/alertmanager"
# Sorted before Alertmanager's file, so its Secret exists when the new Alertmanager
# pod starts (the local node writes secret volumes once, at the pod's start).
SINK_FILE = "05-alert-sink.k8s.yaml"
SINK_UID = 65534
PORT_NAME = "http"


def sink_values() -> dict[str, Any]:
    return dict(yaml.safe_load(VALUES.read_text()))


def sink_config() -> StackConfig:
    return load_config(env={}, values_file=VALUES)


def sink_url(config: StackConfig) -> str:
    a = config.alerts
    return f"http://{a.receiver_app}.{config.namespace}:{a.receiver_port}"


def events_path(config: StackConfig) -> str:
    """The event webhook's path on the sink; refuses a URL that points elsewhere."""
    url = config.alerts.flagger_event_url
    if not url.startswith(sink_url(config) + "/"):
        raise ValueError(f"{VALUES}: alerts.flagger_event_url {url} is not on {sink_url(config)}")
    return urllib.parse.urlsplit(url).path


def _restricted_pod(config: StackConfig) -> dict[str, Any]:
    a = config.alerts
    container = {
        "name": a.receiver_app,
        "image": SINK_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["--port", str(a.receiver_port)],
        "ports": [{"name": PORT_NAME, "containerPort": a.receiver_port}],
        "readinessProbe": {"httpGet": {"path": "/", "port": PORT_NAME}, "periodSeconds": 2},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": SINK_UID, "runAsGroup": SINK_UID},
        "containers": [container],
    }


def _secret(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": data}


def sink_objects(config: StackConfig) -> list[dict[str, Any]]:
    """The sink's Deployment and Service, and the Secrets that name it."""
    a, ns = config.alerts, config.namespace
    labels = {SELECTOR_LABEL: a.receiver_app}
    meta = {"name": a.receiver_app, "namespace": ns, "labels": labels}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
            "replicas": 1, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": _restricted_pod(config)}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "selector": labels,
            "ports": [{"name": PORT_NAME, "port": a.receiver_port, "targetPort": PORT_NAME}]}},
        _secret(a.flagger_secret, ns, {ADDRESS_KEY: sink_url(config) + FLAGGER_ALERTS_PATH}),
        _secret(a.receiver_secret, ns, {URL_KEY: sink_url(config) + ALERTMANAGER_PATH}),
    ]  # fmt: skip


def add_sink(folder: Path) -> None:
    """A release's `prepare` step: the sink and its Secrets, applied with the release."""
    config = sink_config()
    events_path(config)  # the values file points Flagger's events at this sink
    (folder / SINK_FILE).write_text(yaml.safe_dump_all(sink_objects(config), sort_keys=False))


def wait_for_records(
    get: Callable[[str], tuple[int, bytes]],
    address: str,
    ready: Callable[[list[dict[str, Any]]], bool],
    *,
    timeout_s: float,
) -> tuple[list[dict[str, Any]], float]:
    """Every record of the sink once `ready(records)` holds (or the last ones read at the
    timeout), and the seconds waited. `get(url)` is an HTTP GET from where the sink's
    `address` (ip:port of its Service) is reachable: the cluster's network namespace."""
    started = time.monotonic()
    records: list[dict[str, Any]] = []
    while True:
        try:
            status, body = get(f"http://{address}/")
            if status == 200:
                records = json.loads(body)
        except OSError:
            pass  # the pod or its Service is not there yet
        waited = time.monotonic() - started
        if ready(records) or waited > timeout_s:
            return records, waited
        time.sleep(1.0)
