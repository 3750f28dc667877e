"""What a user's cluster has before `kubectl apply -f dist/`: kube-dns, Traefik, Flagger.

Flagger is its real chart, rendered with the docs' values (cluster/chart_render.py).
Traefik's chart is not in any registry this machine reaches, so its install is
generated here from helm values (cluster.traefik_install: the README's install,
or k3s's bundled one with the profile's HelmChartConfig). Namespaces and
addresses are the profile's (cluster.profile), passed in.
"""

from __future__ import annotations

from typing import Any

from cluster import chart_render, layout
from cluster.traefik_install import TraefikInstall
from stack.config import StackConfig

Manifest = dict[str, Any]


def _meta(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = labels
    return meta


def kube_dns() -> list[Manifest]:
    """CoreDNS runs as a process in the cluster namespace (not a pod): it is up
    before the node, so every pod resolves from its first start."""
    labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
    ports = [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    ]
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("kube-dns", "kube-system", **labels),
            "spec": {"clusterIP": layout.DNS_SERVICE_IP, "ports": ports},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": _meta(
                "kube-dns-coredns", "kube-system", **{"kubernetes.io/service-name": "kube-dns"}
            ),
            "addressType": "IPv4",
            "endpoints": [{"addresses": [layout.NODE_IP], "conditions": {"ready": True}}],
            "ports": ports,
        },
    ]


def _restricted_container() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _rbac(name: str, namespace: str, rules: list[dict[str, Any]]) -> list[Manifest]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(f"{name}-{namespace}"),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(f"{name}-{namespace}"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"{name}-{namespace}",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


def _read(*resources: str, group: str = "") -> dict[str, Any]:
    return {"apiGroups": [group], "resources": list(resources), "verbs": ["get", "list", "watch"]}


def traefik(install: TraefikInstall) -> list[Manifest]:
    name, namespace = install.service, install.namespace
    labels = {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": install.instance}
    rules = [
        _read("services", "secrets", "nodes", "configmaps", "endpoints"),
        _read("endpointslices", group="discovery.k8s.io"),
        _read("ingresses", "ingressclasses", group="networking.k8s.io"),
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses/status"],
            "verbs": ["update"],
        },
        {"apiGroups": ["traefik.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
    ]
    ports = [
        {"name": entry, "containerPort": int(port["port"]), "protocol": "TCP"}
        for entry, port in sorted(install.ports.items())
    ]
    ping_port = int(install.ports["traefik"]["port"])
    probe = {
        "httpGet": {"path": "/ping", "port": ping_port},
        "periodSeconds": 2,
        "failureThreshold": 1,
    }
    container = {
        "name": "traefik",
        "image": install.image,
        "args": install.args(),
        "ports": ports,
        "readinessProbe": probe,
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    deployment = _deployment(
        name,
        namespace,
        labels,
        uid=65532,
        container=container,
        annotations=install.pod_annotations,
        terminationGracePeriodSeconds=60,
        volumes=[{"name": "tmp", "emptyDir": {}}],
        **install.pod_spec,
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, namespace, **labels),
        "spec": {
            **install.service_spec,
            "selector": labels,
            "ports": [
                {"name": entry, "port": port, "targetPort": entry, "protocol": "TCP"}
                for entry, port in install.exposed_ports
            ],
        },
    }
    return [_namespace(namespace), *_rbac(name, namespace, rules), deployment, service]


def flagger(namespace: str, config: StackConfig) -> list[Manifest]:
    """Flagger from its chart with the docs' values (cluster/chart_render.py);
    the Namespace is helm's --create-namespace."""
    return [_namespace(namespace), *chart_render.flagger(namespace, config)]


def _deployment(
    name: str,
    namespace: str,
    labels: dict[str, str],
    *,
    uid: int,
    container: dict[str, Any],
    annotations: dict[str, str] | None = None,
    **pod_spec: Any,
) -> Manifest:
    """One replica under its own service account, non-root as `uid`, with the
    restricted container context the chart gives (PodSecurity restricted)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, namespace, **labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    **({"annotations": annotations} if annotations else {}),
                },
                "spec": {
                    "serviceAccountName": name,
                    "securityContext": {"runAsUser": uid, "runAsGroup": uid, "runAsNonRoot": True},
                    "containers": [{**container, "securityContext": _restricted_container()}],
                    **pod_spec,
                },
            },
        },
    }


def _namespace(name: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(name)}


def as_list(items: list[Manifest]) -> Manifest:
    return {"apiVersion": "v1", "kind": "List", "items": items}
