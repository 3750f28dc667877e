"""The cluster's pieces without starting it: images, manifests, addresses, the node's Go tests."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import command_lines, images, layout, node
from cluster.lifecycle import NODE_PROGRAM
from cluster.webhook_sink import SINK_IMAGE, Records
from tests.support.prerequisites import IN_CI
from toolchain.components import BY_NAME, LOCAL_ROOT

ROOT = Path(__file__).resolve().parents[2]


def test_node_go_unit_tests_pass():
    if shutil.which("go") is None:
        if IN_CI:
            pytest.fail("CI=true: go is required for cluster/kubelet")
        pytest.skip("go not installed")
    result = subprocess.run(
        ["go", "test", "./..."],
        cwd=LOCAL_ROOT / str(BY_NAME[NODE_PROGRAM].local),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_table_maps_the_stack_images_and_nothing_else(tmp_path):
    table = images.image_table(tmp_path)
    patterns = [row.pattern for row in table]
    assert patterns == [
        "order-api:*",
        "prom/prometheus:*",
        "prom/alertmanager:*",
        "ghcr.io/fluxcd/flagger-loadtester:*",
        "ghcr.io/fluxcd/flagger:*",
        "order-api-sre/webhook-sink:*",
        "docker.io/traefik:*",
        "rancher/mirrored-library-traefik:*",
        "registry.k8s.io/metrics-server/metrics-server:*",
    ]
    assert not any("grafana" in p for p in patterns)
    # The project's own programs exist in this virtualenv.
    order_api, traefik = table[0], table[-2]
    assert Path(order_api.entrypoint[0]).name == "order-api"
    assert Path(order_api.entrypoint[0]).is_file() and Path(traefik.aliases["traefik"]).is_file()
    assert order_api.cmd == ("--host", "0.0.0.0", "--port", "8080")
    # The loadtester finds hey (copied into bin_dir) on its PATH.
    loadtester = next(r for r in table if "loadtester" in r.pattern)
    assert loadtester.path == (str(tmp_path),)
    # Alertmanager runs the toolchain's binary, copied into bin_dir like Prometheus.
    alertmanager = next(r for r in table if "alertmanager" in r.pattern)
    assert alertmanager.aliases[alertmanager.entrypoint[0]] == str(tmp_path / "alertmanager")
    # The webhook sink is this checkout's module, on the virtualenv's interpreter.
    sink = next(r for r in table if "webhook-sink" in r.pattern)
    assert fnmatch.fnmatch(SINK_IMAGE, sink.pattern)
    assert sink.entrypoint[1:] == ("-m", "cluster.webhook_sink")
    assert (Path(sink.env["PYTHONPATH"]) / "cluster" / "webhook_sink.py").is_file()


def test_webhook_sink_records_bodies_by_path_and_keeps_the_last_ones():
    records = Records(limit=3)
    records.add("/flagger/events", b'{"phase": "Failed"}')
    records.add("/alertmanager", b"not json")
    assert records.under("/flagger") == [
        {"path": "/flagger/events", "received_at": records.under("/")[0]["received_at"],
         "body": {"phase": "Failed"}}
    ]  # fmt: skip
    assert records.under("/alertmanager")[0]["body"] == "not json"
    for n in range(3):
        records.add(f"/n{n}", b"{}")
    assert [r["path"] for r in records.under("/")] == ["/n0", "/n1", "/n2"]


def test_order_api_row_matches_the_dockerfile():
    text = (ROOT / "service" / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd and eval(cmd.group(1)) == list(images.image_table(Path("/x"))[0].cmd)
    assert 'ENTRYPOINT ["python", "-m", "order_api"]' in text  # = the order-api console script


def test_coredns_forwards_nothing(tmp_path):
    corefile = command_lines.corefile(layout.Paths(tmp_path))
    plugins = {line.split()[0] for line in corefile.splitlines() if line.strip()}
    assert not plugins & {"forward", "proxy", "grpc"}, plugins
    assert f"kubernetes {layout.CLUSTER_DOMAIN}" in corefile


def test_addresses_are_inside_the_cluster_ranges():
    pods = ipaddress.ip_network(layout.POD_CIDR)
    services = ipaddress.ip_network(layout.SERVICE_CIDR)
    assert ipaddress.ip_address(layout.NODE_IP) in pods
    assert all(ipaddress.ip_address(a) in pods for a in layout.POD_RANGE)
    assert ipaddress.ip_address(layout.DNS_SERVICE_IP) in services
    assert ipaddress.ip_address(layout.KUBERNETES_SERVICE_IP) == services[1]
    assert not pods.overlaps(services)


def test_kube_proxy_masquerades_everything_in_iptables_mode(tmp_path):
    argv = command_lines.kube_proxy(Path("kube-proxy"), layout.Paths(tmp_path))
    assert "--proxy-mode=iptables" in argv and "--masquerade-all" in argv


def test_a_cluster_with_an_exited_component_is_not_reused(tmp_path, monkeypatch):
    from cluster import lifecycle

    monkeypatch.setattr(lifecycle, "paths", lambda: layout.Paths(tmp_path))
    pids = layout.Paths(tmp_path).pids
    pids.mkdir()
    (pids / "etcd.pid").write_text(f"{os.getpid()}\n")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (pids / "kubelet.pid").write_text(f"{dead.pid}\n")
    assert lifecycle.dead_components() == ["kubelet"]


def test_program_roots_cover_the_project_once(tmp_path):
    roots = images.program_roots(tmp_path)
    assert str(ROOT) in roots
    assert str(tmp_path.resolve()) in roots
    # The virtualenv inside the project is carried by the project's bind.
    assert not any(r != str(ROOT) and r.startswith(str(ROOT) + "/") for r in roots)


def test_pod_stops_read_the_nodes_stop_log(tmp_path):
    paths = layout.Paths(tmp_path)
    assert node.pod_stops(paths) == []  # no pod stopped yet
    paths.logs.mkdir()
    paths.pod_stops.write_text(
        '{"namespace":"sre-demo","pod":"order-api-1","container":"order-api",'
        '"signalled":"2026-12-01T14:20:01.123456789Z","exitCode":0,"afterS":5.2,'
        '"graceS":30,"killed":false}\n'
    )
    (stop,) = node.pod_stops(paths)
    assert (stop.pod, stop.exit_code, stop.after_s, stop.killed) == ("order-api-1", 0, 5.2, False)
    assert stop.signalled == pytest.approx(1796134801.123456)
    config = json.loads(node.write_config(paths).read_text())
    assert config["stopLog"] == str(paths.pod_stops)  # where the node writes them


def test_the_cluster_tests_run_in_the_order_their_markers_ask():
    # Collection only: file names would put test_node_death before test_node and
    # test_lifecycle after test_flagger; the markers put them first and last.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/cluster"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    files = [line.split("::")[0] for line in run.stdout.splitlines() if "::" in line]
    assert run.returncode == 0 and files, run.stdout + run.stderr
    own_files = ("test_lifecycle_live.py", "test_settings_live.py", "test_k3s_profile_live.py")
    own = {i for i, f in enumerate(files) if f.endswith(own_files)}
    kills = {i for i, f in enumerate(files) if f.endswith("test_node_death_live.py")}
    assert own == set(range(len(own))) and len(own) >= 3
    assert kills == {len(files) - 1}
