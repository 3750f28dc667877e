"""docs/configuration.md, generated from the typed config.

Every key of StackConfig with its type and default (read from the
dataclasses), its constraint (the text of the rule `check_config` applies)
and one line of description (below: the one thing the types cannot say).
`python -m stack.reference` rewrites the file; `--check` exits 1 when it is
out of date (tests/docs runs the same comparison).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from stack.config import ENV_PREFIX, VALUES_ENV, StackConfig
from stack.validation import constraints

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "configuration.md"

DESCRIPTIONS: dict[str, str] = {
    "namespace": "Namespace of the whole stack (app, Canary, Prometheus, Grafana).",
    "app.name": "Name of the Deployment, Canary, Service account and `app` label; "
    "Flagger adds `<name>-primary`.",
    "app.image_registry": "Registry (and optional path) in front of the repository; "
    "empty: the image is `<repository>:<tag>`.",
    "app.image_repository": "Image repository of order-api.",
    "app.image_tag": "Image tag of the release (also the pod's ORDER_API_VERSION); "
    "`make release TAG=` writes it.",
    "app.image_pull_secrets": "Secrets (kubernetes.io/dockerconfigjson) the pods pull the "
    "image with.",
    "app.container_port": "Port order-api listens on in the pod.",
    "app.service_port": "Port of the Services Flagger creates (primary, canary).",
    "app.min_replicas": "HPA minimum replicas.",
    "app.max_replicas": "HPA maximum replicas.",
    "app.cpu_target_percent": "HPA CPU utilization target.",
    "app.scale_down_stabilization_s": "Seconds the HPA waits on lower recommendations before "
    "scaling in (Kubernetes' default 300 leaves `behavior` out of the HPA).",
    "app.shutdown_delay_s": "Seconds the pod keeps serving after SIGTERM (readiness 503) "
    "before draining.",
    "app.drain_timeout_s": "Seconds to finish in-flight requests after the shutdown delay.",
    "app.progress_deadline_s": "Deployment progressDeadlineSeconds (Flagger's rollout deadline).",
    "app.fault_error_rate": "Fraction of orders answered 500 (fault injection for canary demos).",
    "app.fault_delay_ms": "Delay added to every order (fault injection for canary demos).",
    "ingress.host": "Host the IngressRoute matches; the load test sends it.",
    "ingress.entry_point": "Traefik entry point of the IngressRoute.",
    "ingress.rate_limit_average": "Traefik rateLimit average (requests/s per client IP).",
    "ingress.rate_limit_burst": "Traefik rateLimit burst.",
    "ingress.retry_attempts": "Traefik retry attempts for idempotent failures.",
    "ingress.traefik_service": "Service of the Traefik that serves the traffic, in "
    "monitoring.traefik_namespace (load test, acceptance URL).",
    "ingress.traefik_latency_buckets": "That Traefik's request-duration histogram buckets (s).",
    "ingress.k3s_traefik_config": "Synthesize the HelmChartConfig that configures k3s's "
    "bundled Traefik (buckets, service metrics).",
    "ingress.tls": "HTTPS: empty (HTTP only), `secret` (a TLS Secret you create) or "
    "`cert-manager` (a Certificate writes it); HTTP is then redirected.",
    "ingress.tls_entry_point": "Traefik's HTTPS entry point.",
    "ingress.tls_secret": "The TLS Secret of the IngressRoute (created by you or cert-manager).",
    "ingress.tls_issuer": "cert-manager issuer of the Certificate (ingress.tls: cert-manager).",
    "ingress.tls_issuer_kind": "Kind of that issuer: ClusterIssuer or Issuer.",
    "ingress.traefik_websecure_port": "Port of the Traefik Service's HTTPS entry point "
    "(the load test enters there under TLS).",
    "monitoring.mode": "`bundled` (the kit's Prometheus, Alertmanager, Grafana) or "
    "`prometheus-operator` (monitors, rules and a dashboard ConfigMap for yours).",
    "monitoring.prometheus_address": "URL of an existing Prometheus that Flagger and the "
    "MetricTemplates query; empty: the bundled one.",
    "monitoring.operator_namespace": "Namespace of the operator's Prometheus (admitted to "
    "scrape order-api).",
    "monitoring.operator_release": "The `release` label the operator's Prometheus selects "
    "monitors and rules by.",
    "monitoring.dashboard_label": "Label Grafana's dashboard sidecar watches for.",
    "monitoring.dashboard_label_value": "Value of that label.",
    "alerts.flagger_provider": "Flagger AlertProvider type (slack, msteams, discord, rocket, "
    "gchat); empty: no Flagger alerts.",
    "alerts.flagger_secret": "Secret whose key `address` is the provider's webhook URL.",
    "alerts.flagger_channel": "Channel of the rollback and failed-check alerts.",
    "alerts.flagger_progress_channel": "Channel that gets every rollout event (slack, rocket).",
    "alerts.flagger_event_url": "Generic webhook: every rollout event POSTed as JSON "
    "(written into the Canary: no secret in it).",
    "alerts.alertmanager_image": "Alertmanager image.",
    "alerts.alertmanager_service": "Alertmanager's Service, which Prometheus sends alerts to.",
    "alerts.alertmanager_port": "Alertmanager's port.",
    "alerts.receiver": "Alertmanager receiver: webhook, slack or email; empty: alerts are "
    "kept and shown, not sent.",
    "alerts.receiver_secret": "Secret with the receiver's `url` (webhook, Slack) or "
    "`password` (SMTP).",
    "alerts.slack_channel": "Slack channel of the Alertmanager receiver.",
    "alerts.email_to": "Recipient of the email receiver.",
    "alerts.email_from": "Sender of the email receiver.",
    "alerts.email_smarthost": "SMTP server, host:port.",
    "alerts.email_username": "SMTP user name (the password comes from receiver_secret).",
    "alerts.receiver_app": "`app` label of an in-cluster receiver's pods in the namespace; "
    "the NetworkPolicies admit Flagger and Alertmanager to it. Empty: none.",
    "alerts.receiver_port": "Port of that in-cluster receiver.",
    "alerts.group_wait": "Alertmanager group_wait.",
    "alerts.critical_group_wait": "group_wait of the critical route (error rate, down).",
    "alerts.group_interval": "Alertmanager group_interval.",
    "alerts.repeat_interval": "Alertmanager repeat_interval.",
    "alerts.error_rate_for": "How long the error rate must stay high before its alert fires.",
    "alerts.latency_for": "How long the p99 latency must stay high before its alert fires.",
    "alerts.down_for": "How long order-api must have no healthy target before its alert fires.",
    "alerts.runbook_base_url": "Where the alerts' runbook_url points (docs/runbooks.md as "
    "your team publishes it).",
    "canary.interval_s": "Flagger analysis interval.",
    "canary.threshold": "Failed checks before Flagger rolls back.",
    "canary.max_weight": "Largest canary traffic weight (%).",
    "canary.step_weight": "Canary weight added per analysis step (%).",
    "canary.step_weights": "Explicit weights per step; replaces step_weight and max_weight.",
    "canary.metric_window_s": "Window of every metric query.",
    "canary.success_rate_min_percent": "Lowest Traefik success rate (non-5xx %) that passes.",
    "canary.latency_max_ms": "Highest Traefik p99 latency that passes.",
    "canary.error_rate_max_percent": "Highest order-api 5xx rate that passes.",
    "canary.loadtester_image": "Image of the Flagger loadtester.",
    "canary.loadtester_port": "Port the loadtester listens on.",
    "canary.load_rps": "Requests per second of the load test during analysis.",
    "monitoring.prometheus_image": "Prometheus image.",
    "monitoring.prometheus_service": "Service name of Prometheus (Flagger and Grafana read it).",
    "monitoring.prometheus_port": "Prometheus port.",
    "monitoring.scrape_interval_s": "Scrape and rule evaluation interval.",
    "monitoring.retention": "TSDB retention time.",
    "monitoring.retention_size": "TSDB retention size.",
    "monitoring.storage_size_limit": "Size limit of Prometheus' emptyDir.",
    "monitoring.grafana_image": "Grafana image.",
    "monitoring.grafana_port": "Grafana port.",
    "monitoring.grafana_admin_secret": "Secret with Grafana's admin-user and admin-password "
    "(created by hand, never in dist/).",
    "monitoring.datasource_uid": "UID of the provisioned Prometheus datasource.",
    "monitoring.traefik_namespace": "Namespace of the Traefik that serves the traffic "
    "(NetworkPolicy, scrape job, URLs); k3s: kube-system.",
    "monitoring.flagger_namespace": "Namespace Flagger runs in (NetworkPolicy, scrape job).",
}
_RESOURCE_KEYS = {
    "cpu_request": "CPU request",
    "cpu_limit": "CPU limit",
    "memory_request": "memory request",
    "memory_limit": "memory limit",
}
_RESOURCE_OWNERS = {
    "app.resources": "order-api",
    "monitoring.prometheus_resources": "Prometheus",
    "monitoring.grafana_resources": "Grafana",
    "alerts.alertmanager_resources": "Alertmanager",
}
_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


@dataclasses.dataclass(frozen=True)
class Setting:
    key: str
    type: str
    default: str
    constraint: str
    description: str


def _type_name(kind: Any) -> str:
    if get_origin(kind) is tuple:
        return f"list of {_type_name(get_args(kind)[0])}"
    return _TYPE_NAMES.get(kind, getattr(kind, "__name__", str(kind)))


def _leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, type, default) of every non-dataclass field, in declaration order."""
    hints = get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", hints[f.name], value


def description(key: str) -> str:
    section, _, leaf = key.rpartition(".")
    if section in _RESOURCE_OWNERS:
        return f"{_RESOURCE_OWNERS[section]} container's {_RESOURCE_KEYS[leaf]}."
    return DESCRIPTIONS[key]


def settings(config: StackConfig | None = None) -> list[Setting]:
    config = config or StackConfig()
    rules = constraints(config)
    return [
        Setting(
            key=key,
            type=_type_name(kind),
            default=json.dumps(list(value) if isinstance(value, tuple) else value),
            constraint="; ".join(dict.fromkeys(rules.get(key, []))),
            description=description(key),
        )
        for key, kind, value in _leaves(config)
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `make config-docs` (python -m stack.reference) from stack/config.py"
        " and stack/validation.py; tests/docs fails when it is out of date. -->",
        "",
        "Settings are read in this order: the defaults below; a values file (`values.yaml`"
        " for `make synth`, `make synth VALUES=values/k3s.yaml`, or"
        f" `{VALUES_ENV}=file`), nested like the keys (`canary: {{step_weight: 20}}`);"
        f" then environment variables `{ENV_PREFIX}<SECTION>__<FIELD>`"
        f" (`{ENV_PREFIX}APP__IMAGE_TAG=1.1.0`; lists as `5,10,25`)."
        " `make synth` refuses a value that breaks a constraint, naming the key, with exit"
        " status 2, and keeps the previous output.",
        "",
        "| Key | Type | Default | Constraint | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in settings():
        cells = [f"`{s.key}`", s.type, f"`{s.default}`", s.constraint, s.description]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stack.reference", description=f"Write {REFERENCE.relative_to(ROOT)}."
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = REFERENCE.read_text() if REFERENCE.is_file() else ""
        if current != text:
            print(f"{REFERENCE.relative_to(ROOT)} is out of date: run `make config-docs`",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    staging = REFERENCE.with_suffix(".md.new")
    staging.write_text(text)
    staging.replace(REFERENCE)
    print(f"wrote {REFERENCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
