"""What a user's cluster has before `kubectl apply -f dist/`: kube-dns, Traefik, Flagger.

Generated here, equivalent to the README's helm installs (traefik/traefik with
the finer buckets and service labels; flagger/flagger with meshProvider
traefik and the stack's Prometheus as metrics server).
"""

from __future__ import annotations

from typing import Any

from cluster import layout

Manifest = dict[str, Any]

TRAEFIK_NS = "traefik"
FLAGGER_NS = "flagger-system"
TRAEFIK_IMAGE = "docker.io/traefik:v3.7.0"
FLAGGER_IMAGE = "ghcr.io/fluxcd/flagger:1.44.0"
# README: --set 'metrics.prometheus.buckets=0.05\,0.1\,0.25\,0.5\,1\,2.5\,5'
TRAEFIK_BUCKETS = "0.05,0.1,0.25,0.5,1,2.5,5"
METRICS_SERVER = "http://prometheus-service.sre-demo:9090"


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
        f"--metrics.prometheus.buckets={TRAEFIK_BUCKETS}",
        "--metrics.prometheus.addServicesLabels=true",
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


def flagger() -> list[Manifest]:
    labels = {"app.kubernetes.io/name": "flagger", "app.kubernetes.io/instance": "flagger"}
    everything = ["*"]
    rules = [
        {
            "apiGroups": [""],
            "resources": [
                "events",
                "configmaps",
                "configmaps/finalizers",
                "secrets",
                "secrets/finalizers",
                "services",
                "services/finalizers",
                "endpoints",
                "pods",
            ],
            "verbs": everything,
        },
        {
            "apiGroups": ["apps"],
            "resources": [
                "deployments",
                "deployments/finalizers",
                "daemonsets",
                "daemonsets/finalizers",
                "replicasets",
            ],
            "verbs": everything,
        },
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "verbs": everything,
        },
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": everything},
        {"apiGroups": ["flagger.app"], "resources": ["*"], "verbs": everything},
        {
            "apiGroups": ["traefik.io", "traefik.containo.us"],
            "resources": ["*"],
            "verbs": everything,
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": everything},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses", "ingresses/finalizers"],
            "verbs": everything,
        },
    ]
    container = {
        "name": "flagger",
        "image": FLAGGER_IMAGE,
        "command": [
            "./flagger",
            "-log-level=info",
            "-mesh-provider=traefik",
            f"-metrics-server={METRICS_SERVER}",
            "-enable-config-tracking=true",
        ],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2},
    }
    deployment = _deployment("flagger", FLAGGER_NS, labels, uid=10001, container=container)
    return [_namespace(FLAGGER_NS), *_rbac("flagger", FLAGGER_NS, rules), deployment]


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
