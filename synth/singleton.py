"""The one-pod Deployment shape shared by Prometheus and Grafana."""

from __future__ import annotations

from cdk8s_plus_33 import k8s
from constructs import Construct

from stack.names import SELECTOR_LABEL, component_labels


def singleton_deployment(
    scope: Construct,
    *,
    metadata: k8s.ObjectMeta,
    component: str,
    pod_annotations: dict[str, str],
    pod_spec: k8s.PodSpec,
) -> k8s.KubeDeployment:
    """One pod whose state lives on an emptyDir (a TSDB, a SQLite file).

    Recreate, not a rolling update: two pods side by side would split that
    state (and, for Prometheus, scrape and alert twice during a rollout).
    """
    selector = {SELECTOR_LABEL: component}
    return k8s.KubeDeployment(
        scope,
        "deployment",
        metadata=metadata,
        spec=k8s.DeploymentSpec(
            replicas=1,
            strategy=k8s.DeploymentStrategy(type="Recreate"),
            selector=k8s.LabelSelector(match_labels=selector),
            template=k8s.PodTemplateSpec(
                metadata=k8s.ObjectMeta(
                    labels={**component_labels(component), **selector},
                    annotations=pod_annotations,
                ),
                spec=pod_spec,
            ),
        ),
    )
