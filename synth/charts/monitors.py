"""prometheus-operator mode: what an existing kube-prometheus-stack needs to watch
order-api, instead of this stack's own Prometheus, Alertmanager and Grafana.

- PodMonitors for order-api (both tracks), Traefik and Flagger, giving the
  targets the labels every query relies on: `namespace` and `pod` (the
  operator adds them), `app` (the pod label, via podTargetLabels);
- a PrometheusRule with exactly the rule groups the bundled Prometheus loads;
- the dashboards in a ConfigMap labelled for Grafana's dashboard sidecar.
Monitors and rules carry the `release` label kube-prometheus-stack selects by.
"""

from __future__ import annotations

from typing import Any

import cdk8s
import yaml
from cdk8s_plus_33 import k8s
from constructs import Construct

from dashboards.export import dashboards_json
from dashboards.rules import rules_yaml
from order_api import telemetry
from stack.config import StackConfig
from stack.names import SELECTOR_LABEL, app_names, component_labels
from stack.scrape import (
    COMPONENT_NAME_LABEL,
    FLAGGER_METRICS_PORT_NAME,
    FLAGGER_POD_LABEL,
    TRAEFIK_METRICS_PORT_NAME,
    TRAEFIK_POD_LABEL,
)
from synth.charts.order_api import PORT_NAME as APP_PORT_NAME
from synth.custom_resource import custom_resource

MONITORING_API = "monitoring.coreos.com/v1"
RELEASE_LABEL = "release"


def _labels(config: StackConfig) -> dict[str, str]:
    return {**component_labels(config.app.name),
            RELEASE_LABEL: config.monitoring.operator_release}  # fmt: skip


def app_pod_monitor(config: StackConfig) -> dict[str, Any]:
    names = app_names(config)
    return {
        "selector": {"matchExpressions": [
            {"key": SELECTOR_LABEL, "operator": "In", "values": names.all_tracks}]},
        "podTargetLabels": [SELECTOR_LABEL],
        "podMetricsEndpoints": [{"port": APP_PORT_NAME, "path": telemetry.METRICS_PATH}],
    }  # fmt: skip


def component_pod_monitor(
    namespace: str, component: str, port: str, *, honor_labels: bool
) -> dict[str, Any]:
    """A helm-installed component's metrics port, in its own namespace."""
    endpoint: dict[str, Any] = {"port": port}
    if honor_labels:
        # flagger_canary_* carry the Canary's own `namespace` label: keep it.
        endpoint["honorLabels"] = True
    return {
        "namespaceSelector": {"matchNames": [namespace]},
        "selector": {"matchLabels": {COMPONENT_NAME_LABEL: component}},
        "podMetricsEndpoints": [endpoint],
    }


def rule_groups(config: StackConfig) -> list[dict[str, Any]]:
    """Every group of the bundled rule files, in file order: one source for both."""
    return [
        group
        for _, text in sorted(rules_yaml(config).items())
        for group in yaml.safe_load(text)["groups"]
    ]


class MonitorsChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        m, app = config.monitoring, config.app.name
        labels = _labels(config)
        monitors = {
            app: app_pod_monitor(config),
            f"{app}-traefik": component_pod_monitor(
                m.traefik_namespace, TRAEFIK_POD_LABEL, TRAEFIK_METRICS_PORT_NAME,
                honor_labels=False),
            f"{app}-flagger": component_pod_monitor(
                m.flagger_namespace, FLAGGER_POD_LABEL, FLAGGER_METRICS_PORT_NAME,
                honor_labels=True),
        }  # fmt: skip
        for name, spec in monitors.items():
            custom_resource(self, f"pod-monitor-{name}", api_version=MONITORING_API,
                            kind="PodMonitor", name=name, namespace=config.namespace,
                            labels=labels, spec=spec)  # fmt: skip
        custom_resource(self, "rules", api_version=MONITORING_API, kind="PrometheusRule",
                        name=app, namespace=config.namespace, labels=labels,
                        spec={"groups": rule_groups(config)})  # fmt: skip
        k8s.KubeConfigMap(
            self,
            "dashboards",
            metadata=k8s.ObjectMeta(
                name=f"{app}-dashboards",
                namespace=config.namespace,
                labels={**component_labels(app), m.dashboard_label: m.dashboard_label_value},
            ),
            data=dict(sorted(dashboards_json(config).items())),
        )
