"""The real Flagger initialized the Canary and generated its objects."""

from __future__ import annotations

import pytest

from cluster.client import get_json

pytestmark = pytest.mark.live


def test_canary_is_initialized(cluster):
    canary = get_json("canary", "order-api", "-n", "sre-demo")
    assert canary["status"]["phase"] in ("Initialized", "Succeeded")
    assert canary["status"]["canaryWeight"] == 0


def test_flagger_generated_deployment_hpa_and_services(cluster):
    primary = get_json("deployment", "order-api-primary", "-n", "sre-demo")
    assert primary["status"]["readyReplicas"] >= 1
    hpa = get_json("hpa", "order-api-primary", "-n", "sre-demo")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "order-api-primary"
    for name in ("order-api", "order-api-primary", "order-api-canary"):
        svc = get_json("service", name, "-n", "sre-demo")
        assert svc["spec"]["ports"][0]["port"] == 80
    # The canary Deployment is scaled to zero once the primary serves.
    canary = get_json("deployment", "order-api", "-n", "sre-demo")
    assert canary["spec"]["replicas"] == 0


def test_traefikservice_weights_send_everything_to_the_primary(cluster):
    ts = get_json("traefikservice", "order-api", "-n", "sre-demo")
    weights = {s["name"]: s["weight"] for s in ts["spec"]["weighted"]["services"]}
    # At weight 0 Flagger leaves the canary out of the list.
    assert weights.get("order-api-primary") == 100
    assert weights.get("order-api-canary", 0) == 0


def test_flagger_runs_from_its_chart_with_the_documented_values(cluster):
    """The Deployment is the chart's (its labels, its wget exec probes passing on
    this node) and runs with the docs' values."""
    from cluster.addons import FLAGGER_NS
    from stack.config import load_config
    from toolchain.chart_sources import FLAGGER, chart_version

    deployment = get_json("deployment", "flagger", "-n", FLAGGER_NS)
    labels = deployment["metadata"]["labels"]
    assert labels["helm.sh/chart"] == f"flagger-{chart_version(FLAGGER)}"
    assert deployment["status"]["readyReplicas"] == 1
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["exec"]["command"][0] == "wget"
    assert "-mesh-provider=traefik" in container["command"]
    assert f"-metrics-server={load_config().prometheus_url}" in container["command"]
