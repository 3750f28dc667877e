"""order-api pods run the built image under runc: its root, its user, its limits.

The shared cluster's order-api pods (dist/, run by the real deployment
controller and Flagger) are asked through runc's own record of them; the
broken-entrypoint image is derived from the built one in the node's store.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster import container_cgroups, image_store
from cluster.client import get_json, kubectl
from cluster.layout import paths
from cluster.node import pod_stops
from stack.config import load_config

pytestmark = pytest.mark.live
NS = load_config().namespace
APP_UID = 10001
BROKEN = "order-api-broken-entrypoint:1"


def _order_api_pods() -> list[dict[str, Any]]:
    repository = load_config().app.image.rpartition(":")[0]
    pods = get_json("pods", "-n", NS)["items"]
    return [p for p in pods if p["spec"]["containers"][0]["image"].startswith(repository + ":")]


def _runc_state(container_id: str) -> dict[str, Any]:
    root = container_cgroups.runc_root(paths().kubelet_dir)
    out = subprocess.run(
        ["runc", "--root", str(root), "state", container_id],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def _running_container(pod: dict[str, Any]) -> str:
    (status,) = pod["status"]["containerStatuses"]
    assert status["containerID"].startswith("runc://"), status
    return status["containerID"].removeprefix("runc://")


def test_every_order_api_pod_runs_the_image_under_runc(cluster):
    pods = _order_api_pods()
    assert len(pods) >= 2, [p["metadata"]["name"] for p in pods]  # primary and target
    digest = image_store.layout_refs(image_store.store_paths().layout)[load_config().app.image]
    for pod in pods:
        state = _runc_state(_running_container(pod))
        assert state["status"] == "running"
        assert pod["status"]["containerStatuses"][0]["imageID"].endswith("@" + digest)


def test_the_process_is_the_images_as_uid_10001_on_a_read_only_root(cluster):
    pod = next(p for p in _order_api_pods() if p["status"].get("phase") == "Running")
    pid = _runc_state(_running_container(pod))["pid"]
    status = Path(f"/proc/{pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert {int(u) for u in uids} == {APP_UID}
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[:3] == [b"python", b"-m", b"order_api"]
    root = Path(f"/proc/{pid}/root")
    # The image's root: its venv and app, not the host's files.
    assert (root / "opt/venv/pyvenv.cfg").is_file() and (root / "opt/app/order_api").is_dir()
    assert not (root / str(image_store.PROJECT).lstrip("/")).exists()
    with pytest.raises(OSError) as error:
        (root / "opt/app/written-by-a-test").write_text("x")
    assert error.value.errno == 30  # EROFS: even root cannot write the container's root
    # /tmp is the pod's emptyDir, writable by the app.
    assert os.access(root / "tmp", os.W_OK)


def test_memory_cpu_and_pids_limits_are_in_its_cgroups(cluster):
    pod = next(p for p in _order_api_pods() if p["status"].get("phase") == "Running")
    container_id = _running_container(pod)
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    cgroups = container_cgroups.CGROUP_ROOT
    parent = container_cgroups.PARENT

    def read(controller: str, name: str) -> int:
        return int((cgroups / controller / parent / container_id / name).read_text())

    assert limits["memory"] == "256Mi" and read("memory", "memory.limit_in_bytes") == 256 * 2**20
    assert limits["cpu"] == "500m" and read("cpu", "cpu.cfs_quota_us") == 50_000
    assert read("cpu", "cpu.cfs_period_us") == 100_000
    assert read("pids", "pids.max") == image_store.POD_PIDS_LIMIT
    pid = _runc_state(container_id)["pid"]
    assert str(pid) in (cgroups / "memory" / parent / container_id / "cgroup.procs").read_text()


def test_a_deleted_pod_drains_and_exits_0_through_runc(cluster):
    """The Deployment replaces the pod; the container's SIGTERM reached order-api (the
    drain ran) and it exited 0 before the grace period."""
    pod = next(p for p in _order_api_pods() if p["status"].get("phase") == "Running")
    name = pod["metadata"]["name"]
    container_id = _running_container(pod)
    started = time.monotonic()
    kubectl("-n", NS, "delete", "pod", name, "--timeout=90s")
    took = time.monotonic() - started
    stops = [s for s in pod_stops(paths()) if s.pod == name]
    assert stops and stops[-1].exit_code == 0 and not stops[-1].killed, stops
    assert stops[-1].container_id == f"runc://{container_id}"
    delay = float(next(e["value"] for e in pod["spec"]["containers"][0]["env"]
                       if e["name"] == "ORDER_API_SHUTDOWN_DELAY_S"))  # fmt: skip
    assert delay <= stops[-1].after_s < stops[-1].grace_s, stops[-1]
    assert took < stops[-1].grace_s
    state = subprocess.run(
        ["runc", "--root", str(container_cgroups.runc_root(paths().kubelet_dir)), "state",
         container_id], capture_output=True, text=True,
    )  # fmt: skip
    assert state.returncode != 0  # the container is deleted, not just stopped
    deployment = pod["metadata"]["labels"]["app"]  # Flagger's primary: order-api-primary
    kubectl("-n", NS, "rollout", "status", f"deployment/{deployment}", "--timeout=120s")


def _write_blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _set_index(layout: Path, edit) -> None:
    index = json.loads((layout / "index.json").read_text())
    index["manifests"] = edit(index["manifests"])
    staging = layout / "index.json.tmp"
    staging.write_text(json.dumps(index))
    staging.replace(layout / "index.json")


@pytest.fixture
def broken_image(cluster) -> Iterator[str]:
    """The built image with an ENTRYPOINT that does not exist, imported into the
    node's store under its own name (as `k3s ctr images import` would)."""
    layout = image_store.store_paths().layout
    refs = image_store.layout_refs(layout)
    sha = refs[load_config().app.image].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / sha).read_text())
    config_sha = manifest["config"]["digest"].split(":")[1]
    config = json.loads((layout / "blobs" / "sha256" / config_sha).read_text())
    config["config"]["Entrypoint"] = ["/opt/venv/bin/no-such-program"]
    manifest["config"].update(_write_blob(layout, json.dumps(config).encode()))
    entry = {
        "mediaType": manifest["mediaType"],
        **_write_blob(layout, json.dumps(manifest).encode()),
        "annotations": {image_store.REF_NAME_ANNOTATION: BROKEN},
    }

    def without(ms: list[dict[str, Any]]) -> list[dict[str, Any]]:
        key = image_store.REF_NAME_ANNOTATION
        return [m for m in ms if (m.get("annotations") or {}).get(key) != BROKEN]

    _set_index(layout, lambda ms: [*without(ms), entry])
    yield BROKEN
    _set_index(layout, without)


def test_a_broken_entrypoint_crash_loops_and_never_runs_the_program(broken_image):
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "broken-entrypoint", "namespace": NS},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": APP_UID,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "app", "image": broken_image,
                "securityContext": {"allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
        },
    }  # fmt: skip
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    try:
        deadline = time.monotonic() + 60
        while True:
            (status,) = get_json("pod", "broken-entrypoint", "-n", NS)["status"].get(
                "containerStatuses"
            ) or [{}]
            waiting = (status.get("state") or {}).get("waiting") or {}
            if status.get("restartCount", 0) >= 2 and waiting.get("reason") == "CrashLoopBackOff":
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        last = status["lastState"]["terminated"]
        assert last["reason"] == "StartError" and last["exitCode"] == 128, last
        assert "no-such-program" in last["message"]
        assert not status["ready"]
    finally:
        kubectl("-n", NS, "delete", "pod", "broken-entrypoint", "--grace-period=0", check=False)
