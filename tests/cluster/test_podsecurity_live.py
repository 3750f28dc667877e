"""PodSecurity `restricted` in sre-demo: enforced, and every real pod passes it."""

from __future__ import annotations

import json
import time

import pytest

from cluster.client import get_json, kubectl

pytestmark = pytest.mark.live

PRIVILEGED = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "privileged-probe", "namespace": "sre-demo"},
    "spec": {
        "containers": [
            {"name": "c", "image": "order-api:1.0.0", "securityContext": {"privileged": True}}
        ]
    },
}


def test_namespace_enforces_restricted(cluster):
    ns = get_json("namespace", "sre-demo")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_privileged_pod_is_rejected(cluster):
    result = kubectl("apply", "-f", "-", input=json.dumps(PRIVILEGED), check=False)
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted' in result.stderr, result.stderr


def _settled_pods() -> list[dict]:
    """The pods of sre-demo once none is terminating (Flagger scales the canary to 0)."""
    deadline = time.monotonic() + 60
    while True:
        pods = get_json("pods", "-n", "sre-demo")["items"]
        if not any(p["metadata"].get("deletionTimestamp") for p in pods):
            return pods
        assert time.monotonic() < deadline, "pods still terminating after 60 s"
        time.sleep(1)


def test_every_pod_of_dist_and_of_flagger_runs_admitted(cluster):
    pods = _settled_pods()
    owners = {p["metadata"]["labels"].get("app") for p in pods}
    # dist/'s Deployments plus the primary Flagger created (the canary is scaled to 0).
    expected = {"order-api-primary", "flagger-loadtester", "prometheus", "alertmanager", "grafana"}
    assert expected <= owners
    for pod in pods:
        name = pod["metadata"]["name"]
        if pod["metadata"]["labels"].get("app") == "grafana":
            # Admitted, but it has no local program: waiting, never running.
            (status,) = pod["status"]["containerStatuses"]
            assert status["state"]["waiting"]["reason"] == "ImageNotAvailableLocally", name
            assert "grafana/grafana" in status["state"]["waiting"]["message"]
            assert not status["ready"] and pod["status"]["phase"] == "Pending"
            continue
        assert pod["status"]["phase"] == "Running", name
        assert all(c["ready"] for c in pod["status"]["containerStatuses"]), name
