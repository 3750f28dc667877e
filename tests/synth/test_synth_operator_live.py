"""prometheus-operator mode, proven end to end: prometheus-operator's own generator
(toolchain operator-config, its Go module v0.85.0) writes the scrape configuration for
the synthesized PodMonitors; the pinned Prometheus runs it against real order-api
servers whose targets carry the discovery labels their pods would; the PrometheusRule's
groups and the dashboard's queries then answer with the labels they expect.

Only discovery is replaced (kubernetes_sd by static targets with the same meta labels),
$(SHARD) expanded as the operator's config-reloader does, and the intervals shortened;
every relabeling is the operator's."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cdk8s
import httpx
import pytest
import yaml

from dashboards.export import dashboards_json
from order_api import telemetry
from rehearsal.measure.loopback import free_port
from stack.config import StackConfig, load_config
from stack.names import CANARY, PRIMARY, app_names
from synth.main import build_app
from tests.service.order_api_server import OrderApiServer
from tests.support.prerequisites import require_binary
from tests.support.synth_output import ROOT

pytestmark = pytest.mark.live

PROFILE = ROOT / "values" / "kube-prometheus-stack.yaml"
DEADLINE_S = 60
TEST_INTERVAL = "1s"
CONTAINER = "order-api"


def _config() -> StackConfig:
    return load_config(env={}, values_file=PROFILE)


def _monitors_chart(config: StackConfig) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as out:
        (chart,) = [c for c in build_app(config, Path(out)).charts if c.node.id == "50-monitors"]
        return list(cdk8s.Chart.to_json(chart))


def _operator_config(monitors: Path) -> dict[str, Any]:
    binary = require_binary("operator-config", "make toolchain")
    result = subprocess.run([binary, str(monitors)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout))


def _pod_meta(config: StackConfig, track: str, port: int) -> dict[str, str]:
    """The kubernetes_sd meta labels of a running, ready order-api pod of `track`."""
    app = app_names(config).track_app(track)
    return {
        "__meta_kubernetes_namespace": config.namespace,
        "__meta_kubernetes_pod_name": f"{app}-7d9f-{track}",
        f"__meta_kubernetes_pod_label_{'app'}": app,
        "__meta_kubernetes_pod_labelpresent_app": "true",
        "__meta_kubernetes_pod_container_name": CONTAINER,
        "__meta_kubernetes_pod_container_port_name": "http",
        "__meta_kubernetes_pod_container_port_number": str(port),
        "__meta_kubernetes_pod_container_port_protocol": "TCP",
        "__meta_kubernetes_pod_container_init": "false",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_ready": "true",
    }


@pytest.fixture
def servers() -> Iterator[dict[str, OrderApiServer]]:
    with OrderApiServer() as primary, OrderApiServer() as canary:
        yield {PRIMARY: primary, CANARY: canary}


def _prometheus_yml(tmp_path: Path, config: StackConfig, ports: dict[str, int]) -> Path:
    monitors = tmp_path / "monitors.yaml"
    objects = _monitors_chart(config)
    monitors.write_text(yaml.safe_dump_all(objects))
    generated = _operator_config(monitors)
    name = f"podMonitor/{config.namespace}/{config.app.name}/0"
    (job,) = [j for j in generated["scrape_configs"] if j["job_name"] == name]
    assert job["kubernetes_sd_configs"][0]["role"] == "pod", job
    job.pop("kubernetes_sd_configs")
    job["static_configs"] = [
        {"targets": [f"127.0.0.1:{port}"], "labels": _pod_meta(config, track, port)}
        for track, port in ports.items()
    ]
    rule = next(o for o in objects if o["kind"] == "PrometheusRule")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    generated["scrape_configs"] = [job]
    generated["rule_files"] = [str(tmp_path / "rules.yml")]
    generated["global"].update(scrape_interval=TEST_INTERVAL, evaluation_interval=TEST_INTERVAL)
    path = tmp_path / "prometheus.yml"
    # The operator's config-reloader expands $(SHARD) to the pod's shard (0 of 1).
    path.write_text(yaml.safe_dump(generated).replace("$(SHARD)", "0"))
    return path


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def _wait_for(url: str, expr: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEADLINE_S
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            result = _query(url, expr)
        except httpx.HTTPError:
            result = []
        if len(result) >= count:
            return result
        time.sleep(0.5)
    pytest.fail(f"{expr}: {len(result)} series after {DEADLINE_S} s, wanted {count}")


def test_the_operators_scrape_config_gives_the_labels_the_stack_uses(
    tmp_path: Path, servers: dict[str, OrderApiServer]
) -> None:
    config = _config()
    names = app_names(config)
    ports = {track: server.port for track, server in servers.items()}
    prometheus_yml = _prometheus_yml(tmp_path, config, ports)
    for server in servers.values():
        for _ in range(5):
            server.client().post(telemetry.ORDER_PATH, json={"item": "book", "quantity": 1})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [require_binary("prometheus", "make toolchain"), f"--config.file={prometheus_yml}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )  # fmt: skip
    try:
        up = _wait_for(url, f'up{{namespace="{config.namespace}"}} == 1', 2)
        labels = {(s["metric"]["app"], s["metric"]["pod"]) for s in up}
        assert labels == {
            (names.track_app(t), _pod_meta(config, t, ports[t])["__meta_kubernetes_pod_name"])
            for t in ports
        }
        # A recording rule of the PrometheusRule answers for both tracks...
        recorded = _wait_for(url, "namespace_app:http_requests:rate1m", 2)
        assert {s["metric"]["app"] for s in recorded} == set(names.all_tracks)
        # ...and so does a dashboard query, with Grafana's variables filled in.
        (text,) = dashboards_json(config).values()
        expr = next(
            line.split('"expr": ', 1)[1].rstrip(",")
            for line in text.splitlines()
            if '"expr": ' in line and "http_requests_total" in line and "rate(" in line
        )
        query = yaml.safe_load(expr).replace("$namespace", config.namespace)
        answer = _wait_for(url, query.replace("$__rate_interval", "1m"), 1)
        assert answer, query
    finally:
        proc.terminate()
        proc.wait(timeout=10)
