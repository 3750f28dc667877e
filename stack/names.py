"""Names and labels derived once from the config, shared by every chart.

Flagger owns several names (the `-primary` Deployment, the `-canary` Service,
the TraefikService named like the Canary); they are spelled here, from
`config.app.name`, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from stack.config import StackConfig

PART_OF = "order-api-sre"
MANAGED_BY = "cdk8s"
# Flagger's default selector label; it rewrites it to `<name>-primary` on the
# primary Deployment's pods, which is why Prometheus relabels it into `app`.
SELECTOR_LABEL = "app"

# API groups of the custom resources (Traefik v3 serves only traefik.io).
FLAGGER_API = "flagger.app/v1beta1"
TRAEFIK_API = "traefik.io/v1alpha1"
# Flagger's built-in checks (no MetricTemplate): success rate in %, p99 in ms.
REQUEST_SUCCESS_RATE = "request-success-rate"
REQUEST_DURATION = "request-duration"
BUILTIN_METRICS = (REQUEST_SUCCESS_RATE, REQUEST_DURATION)
# Our own checks, each a MetricTemplate named `<app>-<metric>`.
ERROR_RATE = "error-rate"
LATENCY_P99 = "latency-p99"
TEMPLATE_METRICS = (ERROR_RATE, LATENCY_P99)
# The webhooks of the Canary (the rehearsal reads them from dist/ by type).
ACCEPTANCE_TEST = "acceptance-test"
LOAD_TEST_START = "load-test-start"
LOAD_TEST = "load-test"
LOADTESTER = "flagger-loadtester"
# Traefik appends the provider that produced a service to its metrics label.
KUBERNETES_CRD_PROVIDER = "@kubernetescrd"
PRIMARY = "primary"
# k3s's HelmChartConfig: it must carry the name and namespace of k3s's HelmChart
# for its bundled Traefik (kube-system also holds k3s's metrics-server).
HELM_CHART_CONFIG_API = "helm.cattle.io/v1"
HELM_CHART_CONFIG = "HelmChartConfig"
K3S_TRAEFIK_CHART = "traefik"
K3S_SYSTEM_NAMESPACE = "kube-system"
CANARY = "canary"
TRACKS = (PRIMARY, CANARY)


@dataclass(frozen=True, kw_only=True)
class AppNames:
    """The order-api names, including the ones Flagger generates."""

    name: str
    namespace: str

    @property
    def primary(self) -> str:
        return f"{self.name}-primary"

    @property
    def canary_service(self) -> str:
        return f"{self.name}-canary"

    @property
    def traefik_service(self) -> str:
        """The TraefikService Flagger generates, named like the Canary."""
        return self.name

    def metric_template(self, metric: str) -> str:
        """Our MetricTemplate for one of TEMPLATE_METRICS."""
        return f"{self.name}-{metric}"

    def track_service(self, track: str) -> str:
        """Flagger's Service for one track (`primary` or `canary`)."""
        return self.primary if track == PRIMARY else self.canary_service

    def track_app(self, track: str) -> str:
        """The `app` pod label of a track: Flagger relabels the primary's pods."""
        return self.primary if track == PRIMARY else self.name

    def traefik_backend(self, track: str, port: int | str) -> str:
        """Traefik's name for a track's Service: `<ns>-<service>-<port>` (provider not included)."""
        return f"{self.namespace}-{self.track_service(track)}-{port}"

    @property
    def selector(self) -> dict[str, str]:
        return {SELECTOR_LABEL: self.name}

    @property
    def all_tracks(self) -> list[str]:
        """`app` label values of both the canary (target) and the primary pods."""
        return [self.name, self.primary]

    def service_url(self, service: str, *, port: int | None = None) -> str:
        """In-cluster URL of a Service in this namespace (port omitted when 80)."""
        suffix = "" if port in (None, 80) else f":{port}"
        return f"http://{service}.{self.namespace}{suffix}"


def app_names(config: StackConfig) -> AppNames:
    return AppNames(name=config.app.name, namespace=config.namespace)


def component_labels(component: str) -> dict[str, str]:
    """Recommended labels on every object (not used as selectors)."""
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
