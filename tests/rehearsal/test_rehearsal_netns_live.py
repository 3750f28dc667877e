"""Threads in a network namespace (rehearsal.oncluster.netns_threads): what the Flagger engine's
measuring client and Prometheus queries use to reach the cluster's ClusterIPs.

A scratch namespace of the test's own with only loopback, and an HTTP server
inside it: the namespace's threads reach it, the rest of the process does not.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from rehearsal.measure.http_probe import http_get
from rehearsal.measure.load import HeyRun, LoadCounter, Request
from rehearsal.oncluster.netns_threads import NetnsError, NetnsExecutor, enter
from tests.support.prerequisites import IN_CI

pytestmark = pytest.mark.live
PORT = 18080
SERVER = (
    "import http.server as h\n"
    "class H(h.BaseHTTPRequestHandler):\n"
    "    def answer(self):\n"
    "        self.send_response(201); self.send_header('X-App-Version', 'ns-1')\n"
    "        self.send_header('Content-Length', '0'); self.end_headers()\n"
    "    do_GET = do_POST = answer\n"
    "    def log_message(self, *a): pass\n"
    f"h.ThreadingHTTPServer(('127.0.0.1', {PORT}), H).serve_forever()\n"
)


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI=true: network namespaces need root")
        pytest.skip("network namespaces need root")
    name = f"order-api-sre-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    server = None
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        server = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", SERVER])
        deadline = time.monotonic() + 20
        with NetnsExecutor(name) as pool:
            while time.monotonic() < deadline:
                try:
                    pool.run(http_get, f"http://127.0.0.1:{PORT}/", timeout=1.0)
                    break
                except OSError:
                    time.sleep(0.1)
        yield name
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_executor_threads_reach_the_namespace_and_the_process_does_not(namespace: str) -> None:
    with NetnsExecutor(namespace) as pool:
        status, _ = pool.run(http_get, f"http://127.0.0.1:{PORT}/", timeout=2.0)
    assert status == 201
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{PORT}/", timeout=1.0)  # the host's loopback: nothing there


def test_the_measuring_client_counts_answers_from_inside(namespace: str) -> None:
    counter = LoadCounter()
    run = HeyRun(
        address=("127.0.0.1", PORT),
        request=Request(
            method="POST",
            path="/api/order",
            host="order-api.example.com",
            body=b"{}",
            content_type="application/json",
        ),
        counter=counter,
        workers=2,
        rate=20.0,
        duration_s=1.0,
        requests=0,
        timeout_s=2.0,
        thread_init=lambda: enter(namespace),
    ).start()
    run.join(timeout=5)
    counts = counter.snapshot()
    assert counts.sent >= 15 and counts.by_status == {"201": counts.sent}
    assert counts.by_version == {"ns-1": counts.sent}


def test_cluster_prometheus_queries_a_prometheus_inside(
    namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The Flagger engine's Prometheus client, against a real Prometheus in the namespace."""
    from rehearsal.failures import ComponentError
    from rehearsal.oncluster.flagger_engine import ClusterPrometheus
    from tests.support.prerequisites import require_binary

    binary = require_binary("prometheus", "make toolchain")
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs: [{job_name: self, static_configs: [{targets: ['127.0.0.1:19090']}]}]\n"
    )
    argv = [
        "ip",
        "netns",
        "exec",
        namespace,
        binary,
        f"--config.file={folder}/prometheus.yml",
        f"--storage.tsdb.path={folder}/data",
        "--web.listen-address=127.0.0.1:19090",
        "--log.level=error",
    ]
    process = subprocess.Popen(argv)
    try:
        with NetnsExecutor(namespace) as executor:
            prom = ClusterPrometheus(executor, "127.0.0.1:19090")
            deadline = time.monotonic() + 30
            series: list[tuple[dict[str, str], float]] = []
            while time.monotonic() < deadline and not series:
                with contextlib.suppress(OSError, ComponentError):
                    series = prom.query('up{job="self"} == 1')
                time.sleep(0.5)
            assert [labels["job"] for labels, _ in series] == ["self"]
            with pytest.raises(ComponentError, match="parse error"):
                prom.query("up{")
    finally:
        process.terminate()
        process.wait(10)


def test_a_missing_namespace_is_a_clear_error() -> None:
    with pytest.raises(NetnsError, match="network namespace order-api-sre-missing"):
        enter("order-api-sre-missing")
