"""The configurations the snapshots cover, and one chart's objects for a config.

Shared by the synth and dashboards snapshots and the schema checks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import cdk8s

from stack.config import StackConfig, load_config
from stack.validation import check_config
from synth.main import build_app
from tests.support.synth_output import ROOT

# Name -> environment overrides (each a config a user would plausibly synthesize).
CONFIGS: dict[str, dict[str, str]] = {
    "default": {},
    "step-weights": {"ORDER_API_SRE_CANARY__STEP_WEIGHTS": "5,10,25,50"},
    "faults": {
        "ORDER_API_SRE_APP__IMAGE_TAG": "1.1.1",
        "ORDER_API_SRE_APP__FAULT_ERROR_RATE": "0.2",
        "ORDER_API_SRE_APP__FAULT_DELAY_MS": "700",
    },
    "shop": {
        "ORDER_API_SRE_NAMESPACE": "shop",
        "ORDER_API_SRE_INGRESS__HOST": "shop.example.org",
        "ORDER_API_SRE_APP__NAME": "shop-api",
    },
}
# The committed profiles (values files), each snapshot-tested as a whole.
PROFILES = {"k3s": ROOT / "values" / "k3s.yaml", "cluster": ROOT / "values" / "cluster.yaml"}
# Alert settings change only the Canary chart and Alertmanager's: those are
# snapshotted for them.
ALERT_CONFIGS: dict[str, dict[str, str]] = {
    # Flagger to Slack (on-call errors, every event to a release channel) and
    # Alertmanager to Slack.
    "alerts-slack": {
        "ORDER_API_SRE_ALERTS__FLAGGER_PROVIDER": "slack",
        "ORDER_API_SRE_ALERTS__FLAGGER_CHANNEL": "#order-api-oncall",
        "ORDER_API_SRE_ALERTS__FLAGGER_PROGRESS_CHANNEL": "#order-api-releases",
        "ORDER_API_SRE_ALERTS__RECEIVER": "slack",
        "ORDER_API_SRE_ALERTS__SLACK_CHANNEL": "#order-api-oncall",
    },
    # Flagger to Teams and to a generic webhook, Alertmanager by email.
    "alerts-email": {
        "ORDER_API_SRE_ALERTS__FLAGGER_PROVIDER": "msteams",
        "ORDER_API_SRE_ALERTS__FLAGGER_EVENT_URL": "http://event-sink.sre-demo/flagger",
        "ORDER_API_SRE_ALERTS__RECEIVER": "email",
        "ORDER_API_SRE_ALERTS__EMAIL_TO": "oncall@example.org",
        "ORDER_API_SRE_ALERTS__EMAIL_FROM": "alertmanager@example.org",
        "ORDER_API_SRE_ALERTS__EMAIL_SMARTHOST": "smtp.example.org:587",
    },
}
ALERT_CHARTS = ["30-canary", "55-alertmanager"]
# HTTPS changes the ingress and the load test's URL (in the Canary).
TLS_CONFIGS: dict[str, dict[str, str]] = {
    "tls-secret": {"ORDER_API_SRE_INGRESS__TLS": "secret"},
    "tls-cert-manager": {
        "ORDER_API_SRE_INGRESS__TLS": "cert-manager",
        "ORDER_API_SRE_INGRESS__TLS_ISSUER": "letsencrypt",
    },
}
TLS_CHARTS = ["30-canary", "40-ingress"]
# The chart ids of synth.main.build_app, in apply order.
CHARTS = [
    "00-namespace",
    "10-network-policies",
    "20-order-api",
    "30-canary",
    "40-ingress",
    "50-prometheus",
    "55-alertmanager",
    "60-grafana",
]


K3S_CHARTS = [*CHARTS[:5], "45-k3s-traefik", *CHARTS[5:]]
PROFILE_CHARTS = {"k3s": K3S_CHARTS, "cluster": CHARTS}


def config_for(name: str) -> StackConfig:
    if name in PROFILES:
        config = load_config(env={}, values_file=PROFILES[name])
    else:
        config = load_config(env={**CONFIGS, **ALERT_CONFIGS, **TLS_CONFIGS}[name])
    check_config(config)
    return config


def chart_objects(config: StackConfig, chart_id: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as out:
        app = build_app(config, Path(out))
        (chart,) = [c for c in app.charts if c.node.id == chart_id]
        return list(cdk8s.Chart.to_json(chart))
