"""The node's pod semantics, on pods this test creates next to dist/'s."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.client import get_json, kubectl
from tests.cluster import inside

pytestmark = pytest.mark.live
NS = "sre-demo"


def _pod(name: str, env: dict[str, str], grace: int = 30, **spec: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"test": "node"}},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": grace,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "order-api",
                    "image": "order-api:1.0.0",
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "readinessProbe": {
                        "httpGet": {"path": "/api/ready", "port": 8080},
                        "periodSeconds": 1,
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            **spec,
        },
    }


@pytest.fixture
def pods(cluster) -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    for name in created:
        kubectl("-n", NS, "delete", "pod", name, "--grace-period=0", "--wait=false", check=False)


def _create(pods: list[str], manifest: dict) -> None:
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    pods.append(manifest["metadata"]["name"])


def _status(name: str) -> dict:
    return get_json("pod", name, "-n", NS)["status"]


def _until(check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_exited_container_is_restarted(pods):
    # An invalid setting stops order-api at start-up with exit code 2.
    _create(pods, _pod("restart-probe", {"ORDER_API_FAULT_ERROR_RATE": "lots"}))

    def restarted() -> bool:
        statuses = _status("restart-probe").get("containerStatuses") or [{}]
        return statuses[0].get("restartCount", 0) >= 2

    _until(restarted)
    (status,) = _status("restart-probe")["containerStatuses"]
    assert status["lastState"]["terminated"]["exitCode"] == 2
    assert not status["ready"]


def test_delete_sends_sigterm_and_waits_for_the_drain(pods):
    _create(pods, _pod("drain-probe", {"ORDER_API_SHUTDOWN_DELAY_S": "3"}))
    kubectl("-n", NS, "wait", "--for=condition=Ready", "pod/drain-probe", "--timeout=60s")
    started = time.monotonic()
    kubectl("-n", NS, "delete", "pod", "drain-probe", "--timeout=60s")
    took = time.monotonic() - started
    # order-api keeps serving 3 s after SIGTERM, then exits 0 well inside the 30 s grace.
    assert 3 <= took < 20, took


def test_grace_period_ends_with_sigkill(pods):
    _create(pods, _pod("kill-probe", {"ORDER_API_SHUTDOWN_DELAY_S": "60"}, grace=2))
    kubectl("-n", NS, "wait", "--for=condition=Ready", "pod/kill-probe", "--timeout=60s")
    started = time.monotonic()
    kubectl("-n", NS, "delete", "pod", "kill-probe", "--timeout=60s")
    took = time.monotonic() - started
    assert 2 <= took < 15, took


def _uids(program: str) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            if any(arg.endswith(program.encode()) for arg in cmdline[:3]):
                found.add(
                    int(next(x for x in status.splitlines() if x.startswith("Uid:")).split()[1])
                )
    return found


def test_containers_run_as_their_run_as_user(cluster):
    assert _uids("order_api") == {10001}  # python -m order_api, the image's entrypoint
    assert _uids("bin/prometheus") == {65534}
    assert _uids("bin/traefik") == {65532}


def test_pod_reports_its_ip_and_node(cluster):
    pod = get_json("pods", "-n", NS, "-l", "app=prometheus")["items"][0]
    assert pod["status"]["podIP"] and pod["spec"]["nodeName"] == "order-api-sre-node"
    assert pod["status"]["hostIP"] == "10.244.0.1"
    lease = get_json("lease", "order-api-sre-node", "-n", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == "order-api-sre-node"


def test_env_from_configmap_and_secret_volumes_and_exec_probe(pods):
    """valueFrom env, a configMap and a secret at their mount paths, an exec readiness probe."""
    kubectl(
        "-n",
        NS,
        "create",
        "configmap",
        "node-probe",
        "--from-literal=version=9.9.9-cm",
        "--from-literal=greeting=hello",
    )
    kubectl("-n", NS, "create", "secret", "generic", "node-probe", "--from-literal=token=s3cret")
    try:
        manifest = _pod("volume-probe", {})
        container = manifest["spec"]["containers"][0]
        container["env"] = [
            {
                "name": "ORDER_API_VERSION",
                "valueFrom": {"configMapKeyRef": {"name": "node-probe", "key": "version"}},
            },
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ]
        container["volumeMounts"] = [
            {"name": "cm", "mountPath": "/etc/node-probe", "readOnly": True},
            {"name": "secret", "mountPath": "/etc/node-probe-secret", "readOnly": True},
        ]
        # Ready only if the exec probe, in the container's mounts, reads both files.
        check = (
            "import sys; sys.exit(open('/etc/node-probe/greeting').read() != 'hello' "
            "or open('/etc/node-probe-secret/token').read() != 's3cret')"
        )
        container["readinessProbe"] = {
            "exec": {"command": ["python", "-c", check]},
            "periodSeconds": 1,
        }
        manifest["spec"]["volumes"] = [
            {"name": "cm", "configMap": {"name": "node-probe"}},
            {"name": "secret", "secret": {"secretName": "node-probe"}},
        ]
        _create(pods, manifest)
        kubectl("-n", NS, "wait", "--for=condition=Ready", "pod/volume-probe", "--timeout=60s")
        ip = _status("volume-probe")["podIP"]
        answer = inside.get_once_listening(f"http://{ip}:8080/api/version")
        assert answer.json() == {"version": "9.9.9-cm"}
    finally:
        kubectl("-n", NS, "delete", "configmap,secret", "node-probe", check=False)
