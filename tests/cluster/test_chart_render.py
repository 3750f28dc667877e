"""The real charts rendered by the toolchain's helm with the documented values:
Flagger's arguments, the loadtester's command line against dist/'s, metrics-server's
arguments, the images against the image table."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster import chart_render, images
from stack import chart_values
from stack.config import StackConfig
from tests.support.prerequisites import require_binary
from toolchain import versions

ROOT = Path(__file__).resolve().parents[2]
# Not the documented namespaces: the renders must follow the parameter.
NAMESPACE = "charts-under-test"


@pytest.fixture(autouse=True)
def _helm() -> None:
    require_binary("helm", "make toolchain")


def _deployment(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    return deployment


def _container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = _deployment(manifests)["spec"]["template"]["spec"][
        "containers"
    ]
    return containers[0]


def test_flagger_runs_with_the_documented_values() -> None:
    config = StackConfig()
    manifests = chart_render.flagger(NAMESPACE, config)
    command = _container(manifests)["command"]
    assert command[0] == "./flagger"
    assert "-mesh-provider=traefik" in command
    assert f"-metrics-server={config.prometheus_url}" in command
    assert _deployment(manifests)["metadata"]["namespace"] == NAMESPACE
    binding = next(m for m in manifests if m["kind"] == "ClusterRoleBinding")
    assert {s["namespace"] for s in binding["subjects"]} == {NAMESPACE}


def test_flagger_follows_the_typed_config() -> None:
    config = StackConfig(namespace="shop")
    command = _container(chart_render.flagger(NAMESPACE, config))["command"]
    assert "-metrics-server=http://prometheus-service.shop:9090" in command


def test_every_rendered_namespaced_object_is_in_the_namespace() -> None:
    for manifests in (
        chart_render.flagger(NAMESPACE, StackConfig()),
        chart_render.loadtester(NAMESPACE),
    ):
        for m in manifests:
            if m["kind"] not in chart_render.CLUSTER_SCOPED:
                assert m["metadata"]["namespace"] == NAMESPACE, m["metadata"]


def _image_rows(image: str) -> list[str]:
    return [
        r.pattern for r in images.image_table(Path("/bin")) if fnmatch.fnmatchcase(image, r.pattern)
    ]


def test_flagger_and_loadtester_images_are_local_programs() -> None:
    rendered = chart_render.images(chart_render.flagger(NAMESPACE, StackConfig()))
    rendered |= chart_render.images(chart_render.loadtester(NAMESPACE))
    assert rendered == {
        f"ghcr.io/fluxcd/flagger:{versions.FLAGGER.removeprefix('v')}",
        "ghcr.io/fluxcd/flagger-loadtester:0.38.0",
    }
    for image in rendered:
        assert len(_image_rows(image)) == 1, image


def _dist_loadtester() -> dict[str, Any]:
    for doc in yaml.safe_load_all((ROOT / "dist" / "30-canary.k8s.yaml").read_text()):
        if doc and doc["kind"] == "Deployment" and "loadtester" in doc["metadata"]["name"]:
            return doc
    raise AssertionError("dist/30-canary.k8s.yaml has no loadtester Deployment")


def test_dist_loadtester_is_the_charts_command_line() -> None:
    chart = _container(chart_render.loadtester(NAMESPACE))
    dist = _dist_loadtester()["spec"]["template"]["spec"]["containers"][0]
    # The chart passes an empty -namespace-regexp (its default: every namespace).
    chart_flags = [a for a in chart["command"] if a != "-namespace-regexp="]
    assert dist["command"] == chart_flags
    # The same image, tag included: the one the pinned Flagger module builds.
    assert dist["image"] == chart["image"]
    assert [(p["name"], p["containerPort"]) for p in dist["ports"]] == [
        (p["name"], p["containerPort"]) for p in chart["ports"]
    ]


def test_metrics_server_runs_with_the_documented_values() -> None:
    manifests = chart_render.metrics_server(NAMESPACE)
    container = _container(manifests)
    assert container["image"] == (
        f"registry.k8s.io/metrics-server/metrics-server:{chart_values.METRICS_SERVER_IMAGE_TAG}"
    )
    args = container["args"]
    for arg in (
        "--secure-port=10250",
        "--cert-dir=/tmp",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--kubelet-use-node-status-port",
        "--metric-resolution=15s",
    ):
        assert arg in args, args
    assert "--kubelet-insecure-tls" not in args
    assert _deployment(manifests)["metadata"]["namespace"] == NAMESPACE
    service = next(m for m in manifests if m["kind"] == "APIService")
    assert service["metadata"]["name"] == "v1beta1.metrics.k8s.io"
    assert service["spec"]["service"]["namespace"] == NAMESPACE


def test_metrics_server_with_the_kind_line() -> None:
    extra = chart_values.METRICS_SERVER_KIND_SETS
    args = _container(chart_render.metrics_server(NAMESPACE, extra))["args"]
    assert "--kubelet-insecure-tls" in args
