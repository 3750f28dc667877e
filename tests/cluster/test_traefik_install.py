"""The generated Traefik install gives the arguments Traefik's chart would give
for the documented helm values (its chart is in no registry this machine reaches,
so the chart's own rendering of them is spelled here from its pod template)."""

from __future__ import annotations

from typing import Any

from cluster import addons
from cluster.profile import default_profile
from cluster.traefik_install import traefik_for
from stack import chart_values
from stack.config import StackConfig

# traefik/traefik 41.x, values.yaml defaults: the ports become entry points
# (`--entryPoints.<name>.address=:<port>/tcp`), the web one exposed on the
# Service as 80; metrics on the `metrics` entry point; both Kubernetes
# providers enabled.
CHART_ENTRY_POINTS = {"web": 8000, "websecure": 8443, "metrics": 9100, "traefik": 8080}
CHART_WEB_SERVICE_PORT = 80
CHART_METRICS_ENTRY_POINT = "metrics"
CHART_PROVIDERS = ("--providers.kubernetescrd", "--providers.kubernetesingress")


def _chart_args(sets: tuple[str, ...]) -> list[str]:
    """What the chart's pod template writes for the documented `--set metrics.prometheus.*`:
    `--metrics.prometheus.<key>=<value>`, helm having unescaped the commas."""
    args = []
    for item in sets:
        key, value = item.split("=", 1)
        assert key.startswith("metrics.prometheus."), f"no chart mapping for --set {item}"
        args.append(f"--{key}={value.replace(chr(92) + ',', ',')}")
    return args


def _readme_traefik() -> list[dict[str, Any]]:
    return addons.traefik(traefik_for(default_profile()))


def _traefik_container() -> dict[str, Any]:
    deployment = next(m for m in _readme_traefik() if m["kind"] == "Deployment")
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_metrics_arguments_are_the_documented_values() -> None:
    documented = chart_values.traefik(StackConfig())
    args = _traefik_container()["args"]
    expected = _chart_args(documented.sets)
    assert expected and all(a in args for a in expected), (expected, args)
    assert "--metrics.prometheus=true" in args
    assert f"--metrics.prometheus.entrypoint={CHART_METRICS_ENTRY_POINT}" in args
    # No second value for a documented key.
    for arg in expected:
        key = arg.split("=", 1)[0]
        assert [a for a in args if a.split("=", 1)[0] == key] == [arg]


def test_the_buckets_hold_the_latency_gate_edge() -> None:
    config = StackConfig()
    args = _traefik_container()["args"]
    buckets = next(a for a in args if a.startswith("--metrics.prometheus.buckets="))
    values = [float(b) for b in buckets.split("=", 1)[1].split(",")]
    assert tuple(values) == config.ingress.traefik_latency_buckets
    assert config.canary.latency_max_ms / 1000 in values


def test_entry_points_and_providers_are_the_charts() -> None:
    container = _traefik_container()
    args = container["args"]
    for name, port in CHART_ENTRY_POINTS.items():
        assert f"--entryPoints.{name}.address=:{port}/tcp" in args
    assert all(p in args for p in CHART_PROVIDERS)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == CHART_ENTRY_POINTS


def test_the_service_is_the_release_name_on_port_80() -> None:
    documented = chart_values.traefik(StackConfig())
    service = next(m for m in _readme_traefik() if m["kind"] == "Service")
    assert service["metadata"]["name"] == documented.release
    namespace = default_profile().traefik_namespace
    assert service["metadata"]["namespace"] == documented.namespace == namespace
    web = next(p for p in service["spec"]["ports"] if p["name"] == "web")
    assert web["port"] == CHART_WEB_SERVICE_PORT
