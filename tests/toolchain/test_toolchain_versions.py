"""Every built binary reports the pinned version (the cache is keyed by it, so a
wrong ldflag or a wrong module would otherwise go unnoticed)."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator

import pytest

from tests.support.prerequisites import require_binary
from toolchain import versions
from toolchain.components import GRAFANA_CHECK, OPERATOR_CONFIG, source_hash
from toolchain.gotool import go_binary
from toolchain.wrapper import UPSTREAM_COPY

pytestmark = pytest.mark.live

ALERTMANAGER_MODULE = "github.com/prometheus/alertmanager"

KUBERNETES_SERVERS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"]


def _output(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize("name", KUBERNETES_SERVERS)
def test_kubernetes_servers_report_the_pin(name: str) -> None:
    binary = require_binary(name, "make toolchain")
    assert _output(binary, "--version").strip() == f"Kubernetes {versions.KUBERNETES}"


def test_kubectl_reports_the_pin() -> None:
    kubectl = require_binary("kubectl", "make toolchain")
    out = _output(kubectl, "version", "--client", "-o", "json")
    assert f'"gitVersion": "{versions.KUBERNETES}"' in out, out
    assert '"minor": "35"' in out, out


def test_etcd_reports_the_pin() -> None:
    pin = versions.ETCD.removeprefix("v")
    assert f"etcd Version: {pin}" in _output(require_binary("etcd", "make toolchain"), "--version")
    etcdctl = require_binary("etcdctl", "make toolchain")
    assert f"etcdctl version: {pin}" in _output(etcdctl, "version")


@pytest.mark.parametrize("name", ["prometheus", "promtool"])
def test_prometheus_reports_the_pin(name: str) -> None:
    out = _output(require_binary(name, "make toolchain"), "--version")
    assert out.startswith(f"{name}, version {versions.PROMETHEUS} "), out


@pytest.mark.parametrize("name", ["alertmanager", "amtool"])
def test_alertmanager_reports_the_pin(name: str) -> None:
    out = _output(require_binary(name, "make toolchain"), "--version")
    assert out.startswith(f"{name}, version {versions.ALERTMANAGER.removeprefix('v')} "), out


@pytest.mark.parametrize(
    ("name", "folder"), [("grafana-check", GRAFANA_CHECK), ("operator-config", OPERATOR_CONFIG)]
)
def test_local_modules_report_their_source_hash(name: str, folder: str) -> None:
    out = _output(require_binary(name, "make toolchain"), "--version")
    assert out.strip() == f"{name} {source_hash(folder)}"


def test_flagger_reports_the_pin() -> None:
    out = _output(require_binary("flagger", "make toolchain"), "-version")
    assert f"Flagger version {versions.FLAGGER.removeprefix('v')} " in out, out


def test_coredns_reports_the_pin() -> None:
    out = _output(require_binary("coredns", "make toolchain"), "-version")
    assert f"CoreDNS-{versions.COREDNS.removeprefix('v')}" in out, out


def test_helm_reports_the_pin() -> None:
    helm = require_binary("helm", "make toolchain")
    assert _output(helm, "version", "--short").strip() == versions.HELM
    # The client-go it links, read from its build info (a Kubernetes version).
    assert _output(helm, "version", "--template", "{{.KubeClientVersion}}").startswith("v1.")


def _module_version(binary: str, module: str) -> str:
    """The version of `module` linked into `binary`, from its Go build info
    (`mod` is the main package's module, a `=>` line the replacement of the line above)."""
    info = _output(go_binary(), "version", "-m", binary)
    linked: dict[str, str] = {}
    last = ""
    for line in info.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] in {"mod", "dep"}:
            last, linked[fields[1]] = fields[1], fields[2]
        elif len(fields) >= 3 and fields[0] == "=>" and last:
            linked[last] = fields[2]
    assert module in linked, info
    return linked[module]


@pytest.mark.parametrize(
    ("name", "module", "pin"),
    [
        ("loadtester", "github.com/fluxcd/flagger", versions.FLAGGER),
        ("hey", "github.com/rakyll/hey", versions.HEY),
        ("helm", "helm.sh/helm/v4", versions.HELM),
        ("kube-apiserver", "k8s.io/apiserver", versions.KUBERNETES_STAGING),
        ("prometheus", "github.com/prometheus/prometheus", versions.PROMETHEUS_MODULE),
        (
            "grafana-check",
            "github.com/grafana/grafana-foundation-sdk/go",
            versions.GRAFANA_FOUNDATION_SDK,
        ),
    ],
)
def test_binaries_link_the_pinned_modules(name: str, module: str, pin: str) -> None:
    assert _module_version(require_binary(name, "make toolchain"), module) == pin


@pytest.mark.parametrize("name", ["alertmanager", "amtool"])
def test_alertmanager_is_built_from_a_copy_of_the_pinned_module(name: str) -> None:
    """The wrapper replaces the module by its copy (UI stubbed): the build info says so."""
    info = _output(go_binary(), "version", "-m", require_binary(name, "make toolchain"))
    lines = [line.split() for line in info.splitlines()]
    (index,) = [i for i, f in enumerate(lines) if f[:2] == ["mod", ALERTMANAGER_MODULE]]
    assert lines[index][2] == versions.ALERTMANAGER, info
    assert lines[index + 1][:2] == ["=>", f"./{UPSTREAM_COPY}"], info


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_hey_sends_the_requests_it_is_told_to(loopback_server: str) -> None:
    hey = require_binary("hey", "make toolchain")
    out = _output(hey, "-n", "20", "-c", "2", "-t", "5", loopback_server)
    assert "[204]\t20 responses" in out, out
