"""Which flows the synthesized NetworkPolicies admit, read as Kubernetes reads them.

A pod is (namespace, labels); namespaces carry only their automatic
`kubernetes.io/metadata.name` label. Ingress only (the stack denies nothing
else): a flow is admitted when no policy selects the target pod, or a rule of
one that does has the port and a peer matching the source: a podSelector alone
means the policy's own namespace, a namespaceSelector alone every pod there,
both together the selected pods in the selected namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stack.names import SELECTOR_LABEL
from tests.support.synth_output import Synthesized

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def app(cls, namespace: str, app: str, **labels: str) -> Pod:
        return cls(namespace, {SELECTOR_LABEL: app, **labels})


def policies_of(synthesized: Synthesized) -> list[dict[str, Any]]:
    return list(synthesized.find("NetworkPolicy"))


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Label selector semantics (matchLabels and In expressions are all the stack uses)."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", expr
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _peer_matches(peer: dict[str, Any], policy_namespace: str, source: Pod) -> bool:
    namespaces, pods = peer.get("namespaceSelector"), peer.get("podSelector")
    if namespaces is None:
        in_namespace = source.namespace == policy_namespace
    else:
        in_namespace = selects(namespaces, {NAMESPACE_NAME_LABEL: source.namespace})
    return in_namespace and (pods is None or selects(pods, source.labels))


def admits(policies: list[dict[str, Any]], source: Pod, target: Pod, port: int) -> bool:
    """Whether `source` may open a TCP connection to `target` on `port`."""
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == target.namespace
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], target.labels)
    ]
    if not selecting:
        return True
    return any(
        port in {int(p["port"]) for p in rule.get("ports", [])}
        and any(
            _peer_matches(peer, policy["metadata"]["namespace"], source) for peer in rule["from"]
        )
        for policy in selecting
        for rule in policy["spec"].get("ingress", [])
    )


def admitted_sources(
    policies: list[dict[str, Any]], candidates: dict[str, Pod], target: Pod, port: int
) -> set[str]:
    """The names of the candidate sources admitted to `target` on `port`."""
    return {name for name, pod in candidates.items() if admits(policies, pod, target, port)}
