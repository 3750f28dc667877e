"""metrics-server: the resource metrics API the HPAs and `kubectl top` read.

Installed from its real chart (`charts/metrics-server` of the pinned
metrics-server module, rendered by cluster/chart_render.py) with the docs'
values plus the documented line for kubelets whose serving certificates the
cluster CA signs, as this node's are: metrics-server verifies them against the
CA of its service-account volume instead of skipping verification.
"""

from __future__ import annotations

import time
from typing import Any

from cluster import chart_render
from cluster.client import KubectlError, kubectl
from stack import chart_values

Manifest = dict[str, Any]

API_SERVICE = "v1beta1.metrics.k8s.io"
# How often it scrapes the node (the chart's --metric-resolution): tests wait on it.
RESOLUTION_S = 15


def release() -> str:
    """The documented release name: the chart names its Deployment after it."""
    return chart_values.metrics_server().release


def manifests(namespace: str) -> list[Manifest]:
    """The chart's objects in `namespace` (its APIService among them)."""
    return chart_render.metrics_server(namespace, chart_values.METRICS_SERVER_CLUSTER_CA_SETS)


def wait_available(namespace: str, timeout_s: float = 120) -> float:
    """Block until the API server serves metrics.k8s.io through metrics-server;
    returns the seconds waited. On timeout the error carries metrics-server's
    last log lines (why it is not ready: a scrape of the node failing, say)."""
    started = time.monotonic()
    try:
        kubectl(
            "wait",
            "--for=condition=Available",
            f"apiservice/{API_SERVICE}",
            f"--timeout={timeout_s:.0f}s",
            timeout=timeout_s + 10,
        )
    except KubectlError as error:
        name = release()
        logs = kubectl("-n", namespace, "logs", f"deploy/{name}", "--tail=5", check=False)
        raise KubectlError(f"{error}\n{name} log:\n{logs.stdout}{logs.stderr}") from None
    return time.monotonic() - started
