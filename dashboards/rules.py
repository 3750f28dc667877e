"""Prometheus recording rules, and the rule files that ship them.

Names follow Prometheus' `level:metric:operations` convention: the labels kept
(`namespace_app`), the metric (`_total` dropped after rate()), and the
operations with their window (`rate1m`, `ratio_rate1m`). The window is the
Canary's metric window (config `canary.metric_window_s`), so the recorded
series look at exactly what Flagger's checks look at.

`rules_yaml(config)` is what synth embeds in the Prometheus ConfigMap.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from dashboards import alerts, queries
from order_api import telemetry as t
from stack.config import StackConfig
from stack.durations import duration

# Aggregation level of every recorded series (the relabeled target labels).
LEVEL_LABELS: tuple[str, ...] = (queries.NAMESPACE_LABEL, queries.APP_LABEL)


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str


def recording_file(config: StackConfig) -> str:
    return f"{config.app.name}-recording.rules.yml"


def alerting_file(config: StackConfig) -> str:
    return f"{config.app.name}-alerts.rules.yml"


def window(config: StackConfig) -> str:
    return duration(config.canary.metric_window_s)


def request_rate_name(config: StackConfig) -> str:
    return f"namespace_app:{t.REQUESTS_TOTAL.removesuffix('_total')}:rate{window(config)}"


def error_ratio_name(config: StackConfig) -> str:
    metric = t.REQUESTS_TOTAL.removesuffix("_total")
    return f"namespace_app:{metric}_5xx_per_requests:ratio_rate{window(config)}"


def latency_buckets_name(config: StackConfig) -> str:
    return f"namespace_app_le:{t.REQUEST_LATENCY}_bucket:rate{window(config)}"


def _api(*extra: str) -> str:
    return queries.selector(t.REQUESTS_TOTAL, queries.API_ONLY, *extra)


def recording_rules(config: StackConfig) -> list[RecordingRule]:
    w = window(config)
    by = f"sum by ({', '.join(LEVEL_LABELS)})"
    rate_name = request_rate_name(config)
    five_xx = queries.matcher(t.STATUS, "=~", queries.status_class_regex("5xx"))
    errors = f"{by} ({queries.rate(_api(five_xx), w)})"
    buckets = queries.selector(f"{t.REQUEST_LATENCY}_bucket", queries.API_ONLY)
    return [
        RecordingRule(rate_name, f"{by} ({queries.rate(_api(), w)})"),
        # 0 (not absent) for an app without 5xx; absent, never NaN, for an
        # app that served no API request in the window. Rules in a group run
        # in order, so this sees the rate recorded just above.
        RecordingRule(
            error_ratio_name(config),
            f"({errors} or 0 * {rate_name}) / ({rate_name} > 0)",
        ),
        RecordingRule(
            latency_buckets_name(config),
            f"sum by ({', '.join((*LEVEL_LABELS, 'le'))}) ({queries.rate(buckets, w)})",
        ),
    ]


def _dump(groups: list[dict[str, object]]) -> str:
    # width: never fold a PromQL expression over several lines.
    return yaml.safe_dump({"groups": groups}, sort_keys=False, width=10_000)


def rules_yaml(config: StackConfig) -> dict[str, str]:
    """Rule file name -> YAML text, for Prometheus' `rule_files`."""
    recording = [{"record": r.record, "expr": r.expr} for r in recording_rules(config)]
    alerting = [
        a.to_rule()
        for a in alerts.alerting_rules(
            config,
            error_ratio=error_ratio_name(config),
            latency_buckets=latency_buckets_name(config),
        )
    ]
    app = config.app.name
    return {
        recording_file(config): _dump([{"name": f"{app}.recording", "rules": recording}]),
        alerting_file(config): _dump([{"name": f"{app}.alerts", "rules": alerting}]),
    }
