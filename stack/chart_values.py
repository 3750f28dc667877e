"""The values of the documented helm installs, in one place.

docs/deploy.md and the README give these `helm upgrade --install` lines; the
local cluster renders the same charts with the same `--set` arguments
(cluster/chart_render.py). tests/docs checks that every documented line equals
what is here, so the docs and the cluster cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from stack.config import StackConfig
from stack.names import K3S_SYSTEM_NAMESPACE

# The metrics-server release the chart in its pinned Go module runs: that
# chart (3.13.0) names 0.8.0 as its appVersion, so the tag is set.
METRICS_SERVER_IMAGE_TAG = "v0.8.1"


@dataclass(frozen=True)
class HelmInstall:
    """One documented `helm upgrade --install`: release, chart, namespace, values."""

    release: str
    chart: str  # <repository>/<name>, as the docs add the repository
    namespace: str
    # Each `--set` argument as helm receives it (after the shell's quoting):
    # a comma inside a value is escaped with a backslash.
    sets: tuple[str, ...] = ()


def flagger(config: StackConfig) -> HelmInstall:
    """Flagger driving Traefik and reading the stack's Prometheus."""
    return HelmInstall(
        "flagger",
        "flagger/flagger",
        config.monitoring.flagger_namespace,
        ("meshProvider=traefik", f"metricsServer={config.prometheus_url}"),
    )


def _bucket(value: float) -> str:
    return f"{value:g}"


def traefik(config: StackConfig) -> HelmInstall:
    """Traefik with the latency buckets the canary gate sits on, per-service metrics."""
    buckets = "\\,".join(_bucket(b) for b in config.ingress.traefik_latency_buckets)
    return HelmInstall(
        "traefik",
        "traefik/traefik",
        config.monitoring.traefik_namespace,
        (f"metrics.prometheus.buckets={buckets}", "metrics.prometheus.addServicesLabels=true"),
    )


def metrics_server() -> HelmInstall:
    return HelmInstall(
        "metrics-server",
        "metrics-server/metrics-server",
        # The docs install it where k3s bundles it.
        K3S_SYSTEM_NAMESPACE,
        (f"image.tag={METRICS_SERVER_IMAGE_TAG}",),
    )


# The documented addition for kind (self-signed kubelet serving certificates).
METRICS_SERVER_KIND_SETS = ("args={--kubelet-insecure-tls}",)
# The documented addition where the cluster CA signs the kubelets' serving
# certificates (kubeadm's serverTLSBootstrap, the local cluster): verify them
# against the CA every pod's service-account volume carries.
SERVICE_ACCOUNT_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
METRICS_SERVER_CLUSTER_CA_SETS = (f"args={{--kubelet-certificate-authority={SERVICE_ACCOUNT_CA}}}",)


def documented(config: StackConfig) -> dict[str, HelmInstall]:
    """Every documented install by chart (`<repository>/<name>`)."""
    installs = (flagger(config), traefik(config), metrics_server())
    return {i.chart: i for i in installs}
