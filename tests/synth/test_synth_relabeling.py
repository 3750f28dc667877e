"""The synthesized scrape job, run by the real Prometheus against a real order-api.

No API server runs here (the cluster tests exercise kubernetes_sd itself), so the
test feeds the job's relabel_configs what kubernetes_sd (role pod) would discover,
through file_sd:
the same `__meta_kubernetes_pod_*` labels, built from the synthesized
Deployment's own pod annotations and labels. Everything after discovery (keep
and drop rules, address and path from annotations, the namespace/pod/app
labels) is the real config, executed by the real Prometheus.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from order_api import telemetry
from rehearsal.measure.loopback import LOOPBACK, free_port
from stack.config import load_config
from stack.names import app_names
from stack.scrape import APP_JOB, PORT_ANNOTATION, app_target_labels
from tests.support.live_processes import running, wait_for
from tests.support.prerequisites import require_binary
from tests.support.synth_output import Synthesized

pytestmark = pytest.mark.live
CONFIG = load_config(env={})
NAMES = app_names(CONFIG)


def _meta(kind: str, name: str) -> str:
    return f"__meta_kubernetes_pod_{kind}_" + "".join(c if c.isalnum() else "_" for c in name)


def _discovered_pod(
    *, name: str, app: str, annotations: dict[str, str], phase: str = "Running"
) -> dict[str, Any]:
    """One kubernetes_sd role=pod target as Prometheus would discover it."""
    labels = {
        "__meta_kubernetes_namespace": CONFIG.namespace,
        "__meta_kubernetes_pod_name": name,
        "__meta_kubernetes_pod_ip": LOOPBACK,
        "__meta_kubernetes_pod_phase": phase,
        _meta("label", "app"): app,
    }
    labels |= {_meta("annotation", k): v for k, v in annotations.items()}
    # role=pod's __address__ is <pod IP>:<declared container port>.
    return {"targets": [f"{LOOPBACK}:{CONFIG.app.container_port}"], "labels": labels}


def _api(url: str, params: dict[str, str] | None = None) -> Any:
    # 503 while Prometheus starts: an HTTPError, which wait_for() retries.
    response = httpx.get(url, params=params)
    response.raise_for_status()
    return response.json()["data"]


@pytest.fixture(scope="module")
def targets(
    tmp_path_factory: pytest.TempPathFactory, synthesized: Synthesized
) -> Iterator[dict[str, Any]]:
    prometheus = require_binary("prometheus", "make toolchain")
    order_api = require_binary("order-api", "pip install -e ., or make setup")
    work = tmp_path_factory.mktemp("relabel")
    app_port, prom_port = free_port(), free_port()

    template = synthesized.one("Deployment", NAMES.name)["spec"]["template"]
    annotations = dict(template["metadata"]["annotations"])
    # The one local change: the annotated port is where this test's order-api listens.
    annotations[PORT_ANNOTATION] = str(app_port)
    pods = [
        _discovered_pod(name="primary-0", app=NAMES.primary, annotations=annotations),
        _discovered_pod(name="canary-0", app=NAMES.name, annotations=annotations),
        # Must be dropped: not annotated for scraping / not running.
        _discovered_pod(name="unannotated-0", app=NAMES.name, annotations={}),
        _discovered_pod(name="done-0", app=NAMES.name, annotations=annotations, phase="Succeeded"),
    ]
    (work / "pods.json").write_text(json.dumps(pods))

    config = yaml.safe_load(
        synthesized.one("ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
    )
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == APP_JOB]
    assert job.pop("kubernetes_sd_configs")[0]["role"] == "pod"
    job["file_sd_configs"] = [{"files": [str(work / "pods.json")]}]
    local = {"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}
    (work / "prometheus.yml").write_text(yaml.safe_dump(local))

    api = f"http://{LOOPBACK}:{prom_port}/api/v1"
    with (
        running([order_api, "--host", LOOPBACK, "--port", str(app_port)], work / "app.log",
                 env={"ORDER_API_SHUTDOWN_DELAY_S": "0"}),
        running([prometheus, f"--config.file={work / 'prometheus.yml'}",
                  f"--storage.tsdb.path={work / 'data'}",
                  f"--web.listen-address={LOOPBACK}:{prom_port}"],
                 work / "prometheus.log", env={}),
    ):  # fmt: skip

        def scraped() -> dict[str, Any] | None:
            data = _api(f"{api}/targets")
            up = [t for t in data["activeTargets"] if t["health"] == "up"]
            return data if len(up) == 2 else None

        data = wait_for(scraped, what="two scraped targets", log=work / "prometheus.log")

        def build_info() -> list[dict[str, Any]]:
            query = {"query": telemetry.BUILD_INFO}
            return _api(f"{api}/query", params=query)["result"]

        series = wait_for(build_info, what="order-api series", log=work / "prometheus.log")
        yield {"targets": data, "series": series, "app_port": app_port}


def test_only_annotated_running_pods_are_scraped(targets: dict[str, Any]) -> None:
    active = {t["labels"]["pod"] for t in targets["targets"]["activeTargets"]}
    assert active == {"primary-0", "canary-0"}
    assert len(targets["targets"]["droppedTargets"]) == 2


def test_address_and_path_come_from_the_annotations(targets: dict[str, Any]) -> None:
    for target in targets["targets"]["activeTargets"]:
        expected = f"http://{LOOPBACK}:{targets['app_port']}{telemetry.METRICS_PATH}"
        assert target["scrapeUrl"] == expected
        assert target["health"] == "up", target["lastError"]


def test_targets_carry_namespace_pod_and_app_as_the_rehearsal_assumes(
    targets: dict[str, Any],
) -> None:
    by_pod = {t["labels"]["pod"]: t["labels"] for t in targets["targets"]["activeTargets"]}
    for pod, primary in (("primary-0", True), ("canary-0", False)):
        expected = app_target_labels(CONFIG, primary=primary, pod=pod)
        assert expected.items() <= by_pod[pod].items(), by_pod[pod]


def test_scraped_series_are_labelled_per_track(targets: dict[str, Any]) -> None:
    apps = {s["metric"]["app"] for s in targets["series"]}
    assert apps == {NAMES.primary, NAMES.name}
    assert {s["metric"]["namespace"] for s in targets["series"]} == {CONFIG.namespace}
