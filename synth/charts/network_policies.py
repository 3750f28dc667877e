"""Default-deny ingress in the namespace, then exactly the flows the stack needs.

Grafana and Prometheus UIs are reached with `kubectl port-forward`, which
enters the pod's own network namespace and needs no allow rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import cdk8s
from cdk8s_plus_33 import k8s
from constructs import Construct

from stack.config import StackConfig
from stack.names import LOADTESTER, SELECTOR_LABEL, app_names, component_labels
from stack.scrape import COMPONENT_NAME_LABEL, TRAEFIK_POD_LABEL
from synth.charts.alertmanager import ALERTMANAGER
from synth.charts.grafana import GRAFANA
from synth.charts.prometheus import PROMETHEUS

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# prometheus-operator labels every Alertmanager pod it runs so (its
# alertmanager-operated Service selects them by it).
OPERATOR_ALERTMANAGER_POD = {COMPONENT_NAME_LABEL: "alertmanager"}


@dataclass(frozen=True, kw_only=True)
class Allow:
    """Ingress to pods whose `app` is one of `to_apps`, on `port`, from one peer."""

    name: str
    to_apps: list[str]
    port: int
    from_apps: list[str] | None = None
    from_namespace: str | None = None
    # Narrows a namespace peer to these pods (kube-system on k3s holds more than Traefik).
    from_pod_labels: dict[str, str] | None = None


def _receiver_allows(config: StackConfig) -> list[Allow]:
    """An in-cluster alert receiver (alerts.receiver_app): Flagger posts its events and
    alerts to it, Alertmanager its notifications; no one else reaches it."""
    a, m = config.alerts, config.monitoring
    if not a.receiver_app:
        return []
    if config.bundled_monitoring:
        alertmanager = Allow(
            name=f"{a.receiver_app}-from-{ALERTMANAGER}",
            to_apps=[a.receiver_app],
            port=a.receiver_port,
            from_apps=[ALERTMANAGER],
        )
    else:  # kube-prometheus-stack's Alertmanager, in the operator's namespace
        alertmanager = Allow(
            name=f"{a.receiver_app}-from-{ALERTMANAGER}",
            to_apps=[a.receiver_app],
            port=a.receiver_port,
            from_namespace=m.operator_namespace,
            from_pod_labels=OPERATOR_ALERTMANAGER_POD,
        )
    return [
        Allow(name=f"{a.receiver_app}-from-flagger", to_apps=[a.receiver_app],
              port=a.receiver_port, from_namespace=m.flagger_namespace),
        alertmanager,
    ]  # fmt: skip


def _operator_allows(config: StackConfig) -> list[Allow]:
    """prometheus-operator mode: the existing Prometheus scrapes from its namespace."""
    names = app_names(config)
    m, k = config.monitoring, config.canary
    app_port = config.app.container_port
    return [
        Allow(name=f"{names.name}-from-traefik", to_apps=names.all_tracks, port=app_port,
              from_namespace=m.traefik_namespace),
        Allow(name=f"{names.name}-from-loadtester", to_apps=names.all_tracks, port=app_port,
              from_apps=[LOADTESTER]),
        Allow(name=f"{names.name}-from-prometheus", to_apps=names.all_tracks, port=app_port,
              from_namespace=m.operator_namespace),
        Allow(name=f"{LOADTESTER}-from-flagger", to_apps=[LOADTESTER], port=k.loadtester_port,
              from_namespace=m.flagger_namespace),
    ]  # fmt: skip


def allows(config: StackConfig) -> list[Allow]:
    if not config.bundled_monitoring:
        return [*_operator_allows(config), *_receiver_allows(config)]
    names = app_names(config)
    m, k = config.monitoring, config.canary
    app_port = config.app.container_port
    return [
        # Both tracks: Flagger routes to <name>-primary and <name> (canary) pods.
        Allow(name=f"{names.name}-from-traefik", to_apps=names.all_tracks, port=app_port,
              from_namespace=m.traefik_namespace,
              from_pod_labels={COMPONENT_NAME_LABEL: TRAEFIK_POD_LABEL}),
        # The pre-rollout acceptance test calls the canary Service directly.
        Allow(name=f"{names.name}-from-loadtester", to_apps=names.all_tracks, port=app_port,
              from_apps=[LOADTESTER]),
        Allow(name=f"{names.name}-from-prometheus", to_apps=names.all_tracks, port=app_port,
              from_apps=[PROMETHEUS]),
        Allow(name=f"{PROMETHEUS}-from-grafana", to_apps=[PROMETHEUS], port=m.prometheus_port,
              from_apps=[GRAFANA]),
        # Flagger runs the canary analysis queries against this Prometheus.
        Allow(name=f"{PROMETHEUS}-from-flagger", to_apps=[PROMETHEUS], port=m.prometheus_port,
              from_namespace=m.flagger_namespace),
        # Prometheus sends firing alerts; Alertmanager's own egress (receivers) is
        # not restricted here, like every pod's: this chart denies ingress only.
        Allow(name=f"{ALERTMANAGER}-from-prometheus", to_apps=[ALERTMANAGER],
              port=config.alerts.alertmanager_port, from_apps=[PROMETHEUS]),
        Allow(name=f"{LOADTESTER}-from-flagger", to_apps=[LOADTESTER], port=k.loadtester_port,
              from_namespace=m.flagger_namespace),
        *_receiver_allows(config),
    ]  # fmt: skip


def _app_selector(apps: list[str]) -> k8s.LabelSelector:
    return k8s.LabelSelector(
        match_expressions=[
            k8s.LabelSelectorRequirement(key=SELECTOR_LABEL, operator="In", values=apps)
        ]
    )


def _peer(allow: Allow) -> k8s.NetworkPolicyPeer:
    if allow.from_namespace is not None:
        pods = allow.from_pod_labels
        return k8s.NetworkPolicyPeer(
            namespace_selector=k8s.LabelSelector(
                match_labels={NAMESPACE_NAME_LABEL: allow.from_namespace}
            ),
            pod_selector=k8s.LabelSelector(match_labels=pods) if pods else None,
        )
    return k8s.NetworkPolicyPeer(pod_selector=_app_selector(allow.from_apps or []))


class NetworkPoliciesChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        labels = component_labels(config.app.name)

        def meta(name: str) -> k8s.ObjectMeta:
            return k8s.ObjectMeta(name=name, namespace=config.namespace, labels=labels)

        k8s.KubeNetworkPolicy(
            self,
            "default-deny-ingress",
            metadata=meta("default-deny-ingress"),
            spec=k8s.NetworkPolicySpec(pod_selector=k8s.LabelSelector(), policy_types=["Ingress"]),
        )
        for allow in allows(config):
            k8s.KubeNetworkPolicy(
                self,
                allow.name,
                metadata=meta(f"allow-{allow.name}"),
                spec=k8s.NetworkPolicySpec(
                    pod_selector=_app_selector(allow.to_apps),
                    policy_types=["Ingress"],
                    ingress=[
                        k8s.NetworkPolicyIngressRule(
                            from_=[_peer(allow)],
                            ports=[
                                k8s.NetworkPolicyPort(
                                    protocol="TCP", port=k8s.IntOrString.from_number(allow.port)
                                )
                            ],
                        )
                    ],
                ),
            )
