"""alertmanager.yml: who gets the four alerts of dashboards/alerts.py, and when.

Grouping and inhibition follow what an on-call person needs from these alerts:
- one notification per alert and namespace (both tracks of one release in one
  message), critical ones after a shorter wait and repeated more often;
- no error-rate or latency alert while OrderApiDown fires (no targets, no
  signal worth reading);
- no canary-track error-rate or latency alert once CanaryRolledBack fires:
  Flagger already acted, and the rollback alert says so.
The receiver's secret (webhook URL, Slack URL, SMTP password) is read from a
file mounted from a Secret the user creates (Alertmanager's *_file fields), so
the ConfigMap holds no credential.
"""

from __future__ import annotations

from typing import Any

import yaml

from dashboards import alerts
from dashboards.queries import APP_LABEL, NAMESPACE_LABEL
from stack.config import StackConfig
from stack.names import CANARY, app_names

CONFIG_FILE = "alertmanager.yml"
# Where the pod mounts the receiver Secret; the Secret's keys are files there.
SECRETS_DIR = "/etc/alertmanager/secrets"
URL_KEY = "url"
PASSWORD_KEY = "password"
# With no receiver configured, alerts are grouped and shown (UI, amtool), never sent.
NO_RECEIVER = "none"
ON_CALL = "on-call"
CRITICAL_REPEAT_INTERVAL = "1h"
GROUP_BY = ["alertname", NAMESPACE_LABEL]


def secret_file(key: str) -> str:
    return f"{SECRETS_DIR}/{key}"


def _receiver(config: StackConfig) -> dict[str, Any]:
    a = config.alerts
    if a.receiver == "webhook":
        return {"name": ON_CALL, "webhook_configs": [
            {"url_file": secret_file(URL_KEY), "send_resolved": True}]}  # fmt: skip
    if a.receiver == "slack":
        return {"name": ON_CALL, "slack_configs": [{
            "api_url_file": secret_file(URL_KEY), "channel": a.slack_channel,
            "send_resolved": True,
            "title": '{{ .CommonLabels.alertname }} ({{ .Status }})',
            "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n"
                    "{{ .Annotations.description }}\nRunbook: {{ .Annotations.runbook_url }}\n"
                    "{{ end }}",
        }]}  # fmt: skip
    if a.receiver == "email":
        return {"name": ON_CALL, "email_configs": [{
            "to": a.email_to, "from": a.email_from, "smarthost": a.email_smarthost,
            "auth_username": a.email_username or a.email_from,
            "auth_password_file": secret_file(PASSWORD_KEY), "send_resolved": True,
        }]}  # fmt: skip
    return {"name": NO_RECEIVER}


def receiver_name(config: StackConfig) -> str:
    return str(_receiver(config)["name"])


def _route(config: StackConfig) -> dict[str, Any]:
    a = config.alerts
    receiver = receiver_name(config)
    return {
        "receiver": receiver,
        "group_by": GROUP_BY,
        "group_wait": a.group_wait,
        "group_interval": a.group_interval,
        "repeat_interval": a.repeat_interval,
        "routes": [
            {
                "receiver": receiver,
                "matchers": [f'{alerts.SEVERITY}="{alerts.CRITICAL}"'],
                "group_wait": a.critical_group_wait,
                "repeat_interval": CRITICAL_REPEAT_INTERVAL,
            }
        ],
    }


def _inhibit_rules(config: StackConfig) -> list[dict[str, Any]]:
    symptoms = f'alertname=~"{alerts.HIGH_ERROR_RATE}|{alerts.HIGH_LATENCY}"'
    canary_app = app_names(config).track_app(CANARY)
    return [
        {
            "source_matchers": [f'alertname="{alerts.DOWN}"'],
            "target_matchers": [symptoms],
            "equal": [NAMESPACE_LABEL],
        },
        {
            "source_matchers": [f'alertname="{alerts.ROLLED_BACK}"'],
            "target_matchers": [symptoms, f'{APP_LABEL}="{canary_app}"'],
            "equal": [NAMESPACE_LABEL],
        },
    ]


def alertmanager_config(config: StackConfig) -> dict[str, Any]:
    return {
        "route": _route(config),
        "receivers": [_receiver(config)],
        "inhibit_rules": _inhibit_rules(config),
    }


def alertmanager_yml(config: StackConfig) -> str:
    return yaml.safe_dump(alertmanager_config(config), sort_keys=False)
