"""prometheus.yml for the in-cluster Prometheus, as a Python dict.

The relabeling defines the labels every query in the stack relies on
(`namespace`, `pod`, `app`). The dashboards' real-Prometheus test and the
rehearsal import `app_target_labels()` to give their local targets the same
labels, so a query proven locally matches what runs in the cluster.
"""

from __future__ import annotations

from typing import Any

from order_api import telemetry
from stack.config import StackConfig
from stack.names import SELECTOR_LABEL, app_names

# Target labels the app job produces.
NAMESPACE_LABEL = "namespace"
POD_LABEL = "pod"
APP_LABEL = "app"

# Pod annotations that opt a pod into scraping (the order-api Deployment sets them).
SCRAPE_ANNOTATION = "prometheus.io/scrape"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"

# Rule files are mounted next to prometheus.yml; a relative path resolves
# against the config file's directory, in the pod and in `promtool check config`.
RULES_DIR = "rules"
CONFIG_FILE = "prometheus.yml"

# How the Traefik and Flagger helm charts label their pods and name their metrics ports.
TRAEFIK_POD_LABEL = "traefik"
TRAEFIK_METRICS_PORT_NAME = "metrics"
FLAGGER_POD_LABEL = "flagger"
FLAGGER_METRICS_PORT_NAME = "http"
COMPONENT_NAME_LABEL = "app.kubernetes.io/name"

APP_JOB = "kubernetes-pods"
TRAEFIK_JOB = "traefik"
FLAGGER_JOB = "flagger"
PROMETHEUS_JOB = "prometheus"


def _meta(kind: str, name: str) -> str:
    """The kubernetes_sd meta label for a pod annotation or label name."""
    sanitized = "".join(c if c.isalnum() else "_" for c in name)
    return f"__meta_kubernetes_pod_{kind}_{sanitized}"


def _pod_discovery(namespace: str) -> list[dict[str, Any]]:
    return [{"role": "pod", "namespaces": {"names": [namespace]}}]


def app_relabel_configs() -> list[dict[str, Any]]:
    """Keep annotated pods; take path and port from annotations; set namespace, pod, app."""
    port = _meta("annotation", PORT_ANNOTATION)
    return [
        {
            "source_labels": [_meta("annotation", SCRAPE_ANNOTATION)],
            "regex": "true",
            "action": "keep",
        },
        # Completed or failed pods still exist in the API; they have nothing to scrape.
        {
            "source_labels": ["__meta_kubernetes_pod_phase"],
            "regex": "Pending|Succeeded|Failed|Completed",
            "action": "drop",
        },
        {
            "source_labels": [_meta("annotation", PATH_ANNOTATION)],
            "regex": "(.+)",
            "target_label": "__metrics_path__",
        },
        # Pod IP plus the annotated port; IPv6 addresses need brackets.
        {
            "source_labels": [port, "__meta_kubernetes_pod_ip"],
            "regex": "(\\d+);(([A-Fa-f0-9]{1,4}::?){1,7}[A-Fa-f0-9]{1,4})",
            "replacement": "[$2]:$1",
            "target_label": "__address__",
        },
        {
            "source_labels": [port, "__meta_kubernetes_pod_ip"],
            "regex": "(\\d+);((([0-9]+?)(\\.|$)){4})",
            "replacement": "$2:$1",
            "target_label": "__address__",
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": NAMESPACE_LABEL},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": POD_LABEL},
        # Flagger's primary pods carry app=<name>-primary, the canary's app=<name>.
        {"source_labels": [_meta("label", SELECTOR_LABEL)], "target_label": APP_LABEL},
    ]


def _component_relabel_configs(component: str, port_name: str) -> list[dict[str, Any]]:
    """Keep one helm-installed component's metrics port; label targets by pod."""
    return [
        {
            "source_labels": [_meta("label", COMPONENT_NAME_LABEL)],
            "regex": component,
            "action": "keep",
        },
        {
            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
            "regex": port_name,
            "action": "keep",
        },
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": POD_LABEL},
    ]


def app_target_labels(config: StackConfig, *, primary: bool, pod: str) -> dict[str, str]:
    """The labels `app_relabel_configs()` gives an order-api target in the cluster."""
    names = app_names(config)
    return {
        NAMESPACE_LABEL: config.namespace,
        POD_LABEL: pod,
        APP_LABEL: names.primary if primary else names.name,
    }


def scrape_config(config: StackConfig, *, rule_files: list[str] | None = None) -> dict[str, Any]:
    """The whole prometheus.yml. `rule_files` defaults to every file in RULES_DIR."""
    m = config.monitoring
    interval = f"{m.scrape_interval_s}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": rule_files if rule_files is not None else [f"{RULES_DIR}/*.yml"],
        "scrape_configs": [
            {
                "job_name": APP_JOB,
                "kubernetes_sd_configs": _pod_discovery(config.namespace),
                "relabel_configs": app_relabel_configs(),
            },
            {
                "job_name": TRAEFIK_JOB,
                "kubernetes_sd_configs": _pod_discovery(m.traefik_namespace),
                "relabel_configs": _component_relabel_configs(
                    TRAEFIK_POD_LABEL, TRAEFIK_METRICS_PORT_NAME
                ),
            },
            {
                "job_name": FLAGGER_JOB,
                # flagger_canary_* carry the Canary's own `namespace` label: keep it.
                "honor_labels": True,
                "kubernetes_sd_configs": _pod_discovery(m.flagger_namespace),
                "relabel_configs": _component_relabel_configs(
                    FLAGGER_POD_LABEL, FLAGGER_METRICS_PORT_NAME
                ),
            },
            {
                "job_name": PROMETHEUS_JOB,
                "static_configs": [{"targets": [f"localhost:{m.prometheus_port}"]}],
            },
        ],
        # The Service's DNS name: one Alertmanager, no discovery (and no RBAC) needed.
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [config.alertmanager_address]}]}]
        },
    }


def scrape_annotations(config: StackConfig) -> dict[str, str]:
    """Pod annotations that make `app_relabel_configs()` scrape the order-api."""
    return {
        SCRAPE_ANNOTATION: "true",
        PORT_ANNOTATION: str(config.app.container_port),
        PATH_ANNOTATION: telemetry.METRICS_PATH,
    }
