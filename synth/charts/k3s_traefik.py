"""k3s's bundled Traefik, configured rather than replaced.

k3s installs Traefik from its own HelmChart `traefik` in kube-system; a
HelmChartConfig of the same name and namespace merges values into that
release. This one gives it the latency buckets the canary gate sits on and
per-service metrics, so Flagger's checks read the Traefik that serves users.
"""

from __future__ import annotations

from typing import Any

import cdk8s
import yaml
from constructs import Construct

from stack.config import StackConfig
from stack.names import (
    HELM_CHART_CONFIG,
    HELM_CHART_CONFIG_API,
    K3S_SYSTEM_NAMESPACE,
    K3S_TRAEFIK_CHART,
    component_labels,
)
from synth.custom_resource import custom_resource


def traefik_values(config: StackConfig) -> dict[str, Any]:
    """The Traefik chart values this stack needs (what the generic path passes to helm --set)."""
    buckets = ",".join(f"{b:g}" for b in config.ingress.traefik_latency_buckets)
    return {
        "metrics": {
            "prometheus": {
                "buckets": buckets,
                "addServicesLabels": True,
                "addEntryPointsLabels": True,
            }
        }
    }


class K3sTraefikChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        custom_resource(
            self,
            "helm-chart-config",
            api_version=HELM_CHART_CONFIG_API,
            kind=HELM_CHART_CONFIG,
            name=K3S_TRAEFIK_CHART,
            namespace=K3S_SYSTEM_NAMESPACE,
            labels=component_labels(K3S_TRAEFIK_CHART),
            spec={"valuesContent": yaml.safe_dump(traefik_values(config), sort_keys=False)},
        )
