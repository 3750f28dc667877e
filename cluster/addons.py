"""What a user's cluster has before `kubectl apply -f dist/`: kube-dns, Traefik, Flagger.

Flagger is its real chart, rendered with the docs' values. Traefik's chart is
not in any registry this machine reaches, so its install is generated here,
with the docs' `--set metrics.prometheus.*` values (stack/chart_values.py) as
its chart passes them and the chart's default entry points and providers.
"""

from __future__ import annotations

from typing import Any

from cluster import chart_render, layout
from stack import chart_values
from stack.config import load_config

Manifest = dict[str, Any]

TRAEFIK_NS = "traefik"
FLAGGER_NS = "flagger-system"
TRAEFIK_IMAGE = "docker.io/traefik:v3.7.0"


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


def documented_metrics_args() -> list[str]:
    """The docs' `--set metrics.prometheus.*` values, as Traefik's chart turns them
    into arguments (a helm-escaped comma is a plain one there)."""
    escaped_comma = "\\,"
    return [f"--{s.replace(escaped_comma, ',')}" for s in chart_values.traefik(load_config()).sets]


def traefik() -> list[Manifest]:
    labels = {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-traefik"}
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
    args = [
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--entryPoints.metrics.address=:9100/tcp",
        "--entryPoints.traefik.address=:8080/tcp",
        "--entryPoints.web.address=:8000/tcp",
        "--api.dashboard=true",
        "--ping=true",
        "--metrics.prometheus=true",
        "--metrics.prometheus.entrypoint=metrics",
        *documented_metrics_args(),
        "--metrics.prometheus.addEntryPointsLabels=true",
        "--metrics.prometheus.addRoutersLabels=true",
        "--providers.kubernetescrd",
        "--providers.kubernetescrd.allowEmptyServices=true",
        "--providers.kubernetesingress",
        "--log.level=INFO",
    ]
    ports = [
        {"name": "metrics", "containerPort": 9100, "protocol": "TCP"},
        {"name": "traefik", "containerPort": 8080, "protocol": "TCP"},
        {"name": "web", "containerPort": 8000, "protocol": "TCP"},
    ]
    probe = {"httpGet": {"path": "/ping", "port": 8080}, "periodSeconds": 2, "failureThreshold": 1}
    container = {
        "name": "traefik",
        "image": TRAEFIK_IMAGE,
        "args": args,
        "ports": ports,
        "readinessProbe": probe,
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    deployment = _deployment(
        "traefik",
        TRAEFIK_NS,
        labels,
        uid=65532,
        container=container,
        terminationGracePeriodSeconds=60,
        volumes=[{"name": "tmp", "emptyDir": {}}],
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("traefik", TRAEFIK_NS, **labels),
        "spec": {
            "type": "LoadBalancer",
            "selector": labels,
            "ports": [{"name": "web", "port": 80, "targetPort": "web", "protocol": "TCP"}],
        },
    }
    return [_namespace(TRAEFIK_NS), *_rbac("traefik", TRAEFIK_NS, rules), deployment, service]


def flagger(namespace: str = FLAGGER_NS) -> list[Manifest]:
    """Flagger from its chart with the docs' values (cluster/chart_render.py);
    the Namespace is helm's --create-namespace."""
    return [_namespace(namespace), *chart_render.flagger(namespace, load_config())]


def _deployment(
    name: str,
    namespace: str,
    labels: dict[str, str],
    *,
    uid: int,
    container: dict[str, Any],
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
                "metadata": {"labels": labels},
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
