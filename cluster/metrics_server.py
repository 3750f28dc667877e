"""metrics-server in kube-system: the resource metrics API the HPAs and `kubectl top` read.

The objects the README's `helm upgrade --install metrics-server` makes (chart
3.13.1, metrics-server v0.8.1), written here in one function so the rendered
chart can replace them: ServiceAccount, RBAC, Deployment, Service and the
APIService `v1beta1.metrics.k8s.io` that the API server's aggregation layer
proxies to it. Two arguments differ from the chart's defaults, for this node:
only `InternalIP` (the node has no other address metrics-server can reach) and
the kubelet's serving certificate verified against the cluster CA that every
pod's service-account volume carries (the chart leaves the system roots).
"""

from __future__ import annotations

import time
from typing import Any

from cluster.client import KubectlError, kubectl

Manifest = dict[str, Any]

NAMESPACE = "kube-system"
NAME = "metrics-server"
IMAGE = "registry.k8s.io/metrics-server/metrics-server:v0.8.1"
API_SERVICE = "v1beta1.metrics.k8s.io"
# How often it scrapes the node: the tests wait on it (the chart's default).
RESOLUTION_S = 15
PORT = 10250
SA_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": NAME}
_RBAC = "rbac.authorization.k8s.io"


def args() -> list[str]:
    return [
        "--cert-dir=/tmp",
        f"--secure-port={PORT}",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        f"--metric-resolution={RESOLUTION_S}s",
        # The node's serving certificate is issued by the cluster CA (cluster/pki.py).
        f"--kubelet-certificate-authority={SA_CA}",
    ]


def _meta(name: str, namespaced: bool = True, **extra: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**LABELS, **extra}}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def _binding(kind: str, name: str, role_kind: str, role: str) -> Manifest:
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": kind,
        "metadata": _meta(name, namespaced=kind == "RoleBinding"),
        "roleRef": {"apiGroup": _RBAC, "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }


def _rbac() -> list[Manifest]:
    read = ["get", "list", "watch"]
    aggregate = {
        f"rbac.authorization.k8s.io/aggregate-to-{r}": "true" for r in ("view", "edit", "admin")
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME)},
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": _meta("system:metrics-server-aggregated-reader", False, **aggregate),
            "rules": [
                {"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": read}
            ],
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": _meta("system:metrics-server", False),
            "rules": [
                {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": read},
            ],
        },
        # Reads the requestheader CA and names from kube-system's
        # extension-apiserver-authentication ConfigMap.
        _binding(
            "RoleBinding",
            "metrics-server-auth-reader",
            "Role",
            "extension-apiserver-authentication-reader",
        ),
        _binding(
            "ClusterRoleBinding",
            "metrics-server:system:auth-delegator",
            "ClusterRole",
            "system:auth-delegator",
        ),
        _binding(
            "ClusterRoleBinding", "system:metrics-server", "ClusterRole", "system:metrics-server"
        ),
    ]


def _probe(path: str, initial_delay_s: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "https", "scheme": "HTTPS"},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": 10,
        "failureThreshold": 3,
    }


def _deployment() -> Manifest:
    container = {
        "name": NAME,
        "image": IMAGE,
        "args": args(),
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "livenessProbe": _probe("/livez", 0),
        # The chart waits 20 s; ready comes after the first scrape anyway.
        "readinessProbe": _probe("/readyz", 5),
        "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "serviceAccountName": NAME,
                    "priorityClassName": "system-cluster-critical",
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def manifests() -> list[Manifest]:
    """Everything metrics-server needs, in apply order (the APIService last)."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(NAME),
        "spec": {
            "selector": LABELS,
            "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}],
        },
    }
    group, version = API_SERVICE.split(".", 1)[1], API_SERVICE.split(".", 1)[0]
    api_service = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": _meta(API_SERVICE, False),
        "spec": {
            "group": group,
            "version": version,
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            # As the chart does: metrics-server's serving certificate is self-signed.
            "insecureSkipTLSVerify": True,
            "service": {"name": NAME, "namespace": NAMESPACE, "port": 443},
        },
    }
    return [*_rbac(), _deployment(), service, api_service]


def wait_available(timeout_s: float = 120) -> float:
    """Block until the API server serves metrics.k8s.io through metrics-server;
    returns the seconds waited. On timeout the error carries metrics-server's
    last log lines (why it is not ready: a scrape of the node failing, say)."""
    started = time.monotonic()
    try:
        kubectl(
            "wait",
            "--for=condition=Available",
            f"apiservice/{API_SERVICE}",
            f"--timeout={timeout_s:.0f}s",
            timeout=timeout_s + 10,
        )
    except KubectlError as error:
        logs = kubectl("-n", NAMESPACE, "logs", f"deploy/{NAME}", "--tail=5", check=False)
        raise KubectlError(f"{error}\n{NAME} log:\n{logs.stdout}{logs.stderr}") from None
    return time.monotonic() - started
