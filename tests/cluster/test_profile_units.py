"""The cluster's profile without starting it: every name from the settings or the
synthesized objects, k3s's bundled Traefik with the profile's HelmChartConfig."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cluster import addons, lifecycle
from cluster.layout import RUN_DIR_ENV
from cluster.profile import ClusterProfile, default_profile, synthesized_profile
from cluster.traefik_install import k3s_bundled_install, traefik_for
from rehearsal.oncluster.flagger_engine import (
    flagger_install,
    prometheus_deployment,
    workload_file,
)
from stack import chart_values
from stack.config import ConfigError
from synth.main import DEFAULT_OUTPUT

ROOT = Path(__file__).resolve().parents[2]
SHOP = {"namespace": "shop", "ingress": {"host": "shop.example.org"}, "app": {"name": "shop-api"}}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> ClusterProfile:
    tmp = tmp_path_factory.mktemp("shop")
    values = tmp / "shop.yaml"
    values.write_text(yaml.safe_dump(SHOP))
    return synthesized_profile(values, tmp / "out")


@pytest.fixture(scope="module")
def k3s(tmp_path_factory: pytest.TempPathFactory) -> ClusterProfile:
    return synthesized_profile(ROOT / "values" / "k3s.yaml", tmp_path_factory.mktemp("k3s"))


def test_default_profile_applies_the_committed_dist() -> None:
    profile = default_profile()
    assert profile.manifests == DEFAULT_OUTPUT and profile.values_file is None
    assert profile.bundled_traefik_values is None


def test_shop_names_come_from_the_settings_and_the_synthesized_objects(
    shop: ClusterProfile,
) -> None:
    assert (shop.namespace, shop.app.name, shop.app.primary) == (
        "shop",
        "shop-api",
        "shop-api-primary",
    )
    namespace = yaml.safe_load(shop.namespace_file.read_text())
    assert namespace["kind"] == "Namespace" and namespace["metadata"]["name"] == "shop"
    assert shop.prometheus_url == "http://prometheus-service.shop:9090"
    # Flagger's chart is rendered with this metrics server (cluster/chart_render.py).
    assert (
        "metricsServer=http://prometheus-service.shop:9090"
        in chart_values.flagger(shop.config).sets
    )
    # The Flagger engine finds the workload and Prometheus by kind and name.
    assert "shop-api" in (shop.manifests / workload_file(shop.manifests, shop.config)).read_text()
    assert prometheus_deployment(shop.manifests, shop.config) == "prometheus"
    assert flagger_install(shop.config).namespace == shop.flagger_namespace


def test_k3s_traefik_is_the_bundled_one_with_the_helm_chart_config(k3s: ClusterProfile) -> None:
    values = k3s.bundled_traefik_values
    assert values is not None
    install = traefik_for(k3s)
    assert (install.namespace, install.service) == ("kube-system", "traefik")
    args = install.args()
    buckets = values["metrics"]["prometheus"]["buckets"]
    assert f"--metrics.prometheus.buckets={buckets}" in args
    assert "--metrics.prometheus.addServicesLabels=true" in args
    # k3s's own HelmChart values stay under the HelmChartConfig's.
    assert install.pod_spec["priorityClassName"] == "system-cluster-critical"
    assert install.pod_annotations["prometheus.io/scrape"] == "true"
    service = addons.traefik(install)[-1]
    assert service["metadata"]["namespace"] == "kube-system"
    assert ("web", 80) in [(p["name"], p["port"]) for p in service["spec"]["ports"]]
    assert k3s.metrics_server_namespace == "kube-system"


def test_without_the_helm_chart_config_k3s_traefik_keeps_its_default_buckets() -> None:
    args = k3s_bundled_install("kube-system", "traefik", {}).args()
    assert not any(a.startswith("--metrics.prometheus.buckets") for a in args)


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"ports": {"web": {"nodePort": 30080}}}, "ports.web.nodePort"),
        ({"metrics": {"prometheus": {"headerLabels": {}}}}, "metrics.prometheus.headerLabels"),
    ],
)
def test_a_helm_chart_config_value_the_install_cannot_render_is_refused(
    values: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        k3s_bundled_install("kube-system", "traefik", values)


def test_a_bad_values_file_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "run"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("canary:\n  step_wieght: 20\n")
    with pytest.raises(lifecycle.ClusterError, match=r"canary\.step_wieght: unknown setting"):
        lifecycle._profile(lifecycle.paths(), bad, say=lambda _line: None)
