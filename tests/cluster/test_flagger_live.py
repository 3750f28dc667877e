"""The real Flagger initialized the Canary and generated its objects."""

from __future__ import annotations

import pytest

from cluster.client import get_json
from cluster.profile import default_profile
from stack import chart_values
from toolchain.chart_sources import FLAGGER, chart_version

pytestmark = pytest.mark.live

PROFILE = default_profile()
NS = PROFILE.namespace
APP = PROFILE.app


def test_canary_is_initialized(cluster):
    canary = get_json("canary", APP.name, "-n", NS)
    assert canary["status"]["phase"] in ("Initialized", "Succeeded")
    assert canary["status"]["canaryWeight"] == 0


def test_flagger_generated_deployment_hpa_and_services(cluster):
    primary = get_json("deployment", APP.primary, "-n", NS)
    assert primary["status"]["readyReplicas"] >= 1
    hpa = get_json("hpa", APP.primary, "-n", NS)
    assert hpa["spec"]["scaleTargetRef"]["name"] == APP.primary
    for name in (APP.name, APP.primary, APP.canary_service):
        svc = get_json("service", name, "-n", NS)
        assert svc["spec"]["ports"][0]["port"] == 80
    # The canary Deployment is scaled to zero once the primary serves.
    canary = get_json("deployment", APP.name, "-n", NS)
    assert canary["spec"]["replicas"] == 0


def test_traefikservice_weights_send_everything_to_the_primary(cluster):
    ts = get_json("traefikservice", APP.traefik_service, "-n", NS)
    weights = {s["name"]: s["weight"] for s in ts["spec"]["weighted"]["services"]}
    # At weight 0 Flagger leaves the canary out of the list.
    assert weights.get(APP.primary) == 100
    assert weights.get(APP.canary_service, 0) == 0


def test_flagger_runs_from_its_chart_with_the_documented_values(cluster):
    """The Deployment is the chart's (its labels, its wget exec probes passing on
    this node) and runs with the docs' values."""
    release = chart_values.flagger(PROFILE.config).release
    deployment = get_json("deployment", release, "-n", PROFILE.flagger_namespace)
    labels = deployment["metadata"]["labels"]
    assert labels["helm.sh/chart"] == f"flagger-{chart_version(FLAGGER)}"
    assert deployment["status"]["readyReplicas"] == 1
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["exec"]["command"][0] == "wget"
    assert "-mesh-provider=traefik" in container["command"]
    assert f"-metrics-server={PROFILE.prometheus_url}" in container["command"]
