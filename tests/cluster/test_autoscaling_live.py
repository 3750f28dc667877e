"""Autoscaling on the local cluster: metrics-server reads the node's
/metrics/resource, `kubectl top` answers, and the primary's HPA scales out
under load and back in."""

from __future__ import annotations

import json
import os
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from cluster import layout, metrics_server
from cluster.client import get_json, kubectl
from cluster.profile import default_profile
from order_api import telemetry
from stack.config import load_config
from stack.names import LOADTESTER, app_names
from stack.validation import check_config
from synth.main import build_app
from tests.cluster import inside

pytestmark = pytest.mark.live

CONFIG = load_config(env={})
NAMES = app_names(CONFIG)
NS = CONFIG.namespace
METRICS_NS = default_profile().metrics_server_namespace
# The test's settings: only the HPA's scale-down window differs from dist/.
TEST_VALUES = Path(__file__).resolve().parent / "values" / "autoscaling.yaml"
# A metric needs two scrapes for a rate; the HPA then acts on its next sync (15 s).
METRICS_WAIT_S = 4 * metrics_server.RESOLUTION_S
# Bounded load: hey for LOAD_S seconds at LOAD_WORKERS x RATE_PER_WORKER
# requests/s. order-api spends about 0.12 ms of CPU on an order (24 ms of CPU
# per second at 200/s, measured on loopback): 3200/s over two pods is about
# 190m each, well over the 70 % of its 100m request.
LOAD_S = 60
LOAD_WORKERS = 8
RATE_PER_WORKER = 400

T = TypeVar("T")


def _until(what: str, check: Callable[[], T | None], timeout_s: float, every_s: float = 2) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)


def _running_pods(namespace: str) -> set[str]:
    """Pods whose containers all run (Grafana's waits on an image with no program)."""
    pods = get_json("pods", "-n", namespace)["items"]
    return {
        p["metadata"]["name"]
        for p in pods
        if p["status"].get("containerStatuses")
        and all("running" in c["state"] for c in p["status"]["containerStatuses"])
    }


def _top_pods(namespace: str) -> dict[str, tuple[int, int]]:
    """`kubectl top pods`: name -> (millicores, MiB); empty until the API answers."""
    result = kubectl("top", "pods", "-n", namespace, "--no-headers", check=False)
    if result.returncode != 0:
        return {}
    out = {}
    for line in result.stdout.splitlines():
        name, cpu, mem = line.split()[:3]
        out[name] = (int(cpu.removesuffix("m")), int(mem.removesuffix("Mi")))
    return out


def test_kubectl_top_pods_answers_for_every_running_pod(cluster):
    for namespace in (NS, METRICS_NS):

        def complete(namespace: str = namespace) -> dict[str, tuple[int, int]] | None:
            top, running = _top_pods(namespace), _running_pods(namespace)
            return top if running and running <= set(top) else None

        top = _until(f"kubectl top pods -n {namespace}", complete, METRICS_WAIT_S)
        for name, (_cpu, mem) in top.items():
            assert mem > 0, f"{namespace}/{name}: {top[name]}"
    # order-api (Python) takes more than a MiB; metrics-server lists itself.
    assert all(mem >= 10 for pod, (_c, mem) in _top_pods(NS).items() if NAMES.primary in pod)
    assert any(metrics_server.release() in pod for pod in _top_pods(METRICS_NS))


def _meminfo_bytes(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, value = line.split(":")
        if name == field:
            return int(value.split()[0]) * 1024
    raise AssertionError(f"/proc/meminfo has no {field}")


def test_node_advertises_the_machine_and_kubectl_top_node_is_true(cluster):
    capacity = get_json("node", layout.NODE_NAME)["status"]["capacity"]
    assert int(capacity["cpu"]) == len(os.sched_getaffinity(0))
    assert capacity["memory"] == f"{_meminfo_bytes('MemTotal') // 1024}Ki"

    def top_node() -> list[str] | None:
        result = kubectl("top", "node", layout.NODE_NAME, "--no-headers", check=False)
        return result.stdout.split() if result.returncode == 0 else None

    _name, cpu, cpu_pct, mem, mem_pct = _until("kubectl top node", top_node, METRICS_WAIT_S)
    # Busy cores of this machine, and its memory in use less inactive file pages
    # (other work on the machine moves both between the scrape and this read).
    cores = int(capacity["cpu"])
    millicores = int(cpu.removesuffix("m"))
    assert 0 < millicores <= 1000 * cores
    assert int(cpu_pct.removesuffix("%")) == pytest.approx(millicores / (10 * cores), abs=2)
    used_mib = int(mem.removesuffix("Mi"))
    total_mib = _meminfo_bytes("MemTotal") // 2**20
    assert 0 < used_mib < total_mib, (mem, total_mib)
    assert int(mem_pct.removesuffix("%")) == pytest.approx(100 * used_mib / total_mib, abs=2)


def _test_hpa_behavior() -> dict[str, Any]:
    """The HPA's `behavior` as the test values file synthesizes it."""
    config = load_config(env={}, values_file=TEST_VALUES)
    check_config(config)
    with tempfile.TemporaryDirectory() as outdir:
        objects = list(yaml.safe_load_all(build_app(config, Path(outdir)).synth_yaml()))
    (hpa,) = [o for o in objects if o and o["kind"] == "HorizontalPodAutoscaler"]
    return hpa["spec"]["behavior"]


@pytest.fixture
def short_scale_down_window() -> Iterator[None]:
    """The primary's HPA with the test values' window. Flagger copies an HPA to
    the primary only at initialization and promotion, so the test gives it the
    synthesized `behavior` itself, and takes it away afterwards."""
    hpa = f"hpa/{NAMES.primary}"
    patch = {"spec": {"behavior": _test_hpa_behavior()}}
    kubectl("-n", NS, "patch", hpa, "--type=merge", "-p", json.dumps(patch))
    try:
        yield
    finally:
        kubectl("-n", NS, "patch", hpa, "--type=merge", "-p", '{"spec":{"behavior":null}}')


def _replicas() -> tuple[int, int]:
    status = get_json("hpa", NAMES.primary, "-n", NS)["status"]
    return status.get("currentReplicas", 0), status.get("desiredReplicas", 0)


def _hpa_cpu_percent() -> int | None:
    metrics = get_json("hpa", NAMES.primary, "-n", NS)["status"].get("currentMetrics") or []
    for m in metrics:
        if m.get("type") == "Resource" and m["resource"]["name"] == "cpu":
            return int(m["resource"]["current"].get("averageUtilization", 0)) or None
    return None


def _start_load() -> None:
    """hey in the loadtester pod (the path the Canary's load test takes), bounded by -z."""
    cmd = shlex.join(
        ["hey", "-z", f"{LOAD_S}s", "-q", str(RATE_PER_WORKER), "-c", str(LOAD_WORKERS),
         "-m", "POST", "-T", "application/json", "-d", '{"item":"autoscaling-test","quantity":1}',
         NAMES.service_url(NAMES.primary, port=CONFIG.app.service_port) + telemetry.ORDER_PATH]
    )  # fmt: skip
    payload = {"name": "autoscaling-test", "namespace": NS, "phase": "Progressing",
               "metadata": {"type": "cmd", "cmd": cmd}}  # fmt: skip
    # The test runs in the cluster's network namespace, outside the cluster's DNS.
    service = get_json("service", LOADTESTER, "-n", NS)["spec"]
    url = f"http://{service['clusterIP']}:{service['ports'][0]['port']}/"
    response = inside.post(url, json.dumps(payload), **{"Content-Type": "application/json"})
    assert response.status in (200, 202), response


def test_hpa_scales_the_primary_out_under_load_and_back_in(cluster, short_scale_down_window):
    low = CONFIG.app.min_replicas
    _until(f"the HPA {NAMES.primary} reads CPU", _hpa_cpu_percent, METRICS_WAIT_S)
    assert _replicas() == (low, low), "the primary must start at its minimum"
    started = time.monotonic()
    _start_load()

    def scaled_out() -> tuple[int, int] | None:
        current, desired = _replicas()
        return (current, desired) if desired > low else None

    out = _until("scale-out under load", scaled_out, LOAD_S)
    out_after = time.monotonic() - started

    # Ready replicas follow: the deployment controller starts the pods the HPA asked for.
    def more_ready() -> bool:
        status = get_json("deployment", NAMES.primary, "-n", NS)["status"]
        return status.get("readyReplicas", 0) > low

    _until("the new primary pods ready", more_ready, 60)
    # Load ends with hey's -z; the HPA scales in after the shortened window.
    _until(
        "scale-in after the load", lambda: _replicas() == (low, low), LOAD_S + 3 * METRICS_WAIT_S
    )
    print(
        f"autoscaling: out to {out[1]} after {out_after:.0f} s of load, "
        f"back to {low} {time.monotonic() - started:.0f} s after it started"
    )
