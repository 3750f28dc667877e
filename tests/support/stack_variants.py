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
# The chart ids of synth.main.build_app, in apply order.
CHARTS = [
    "00-namespace",
    "10-network-policies",
    "20-order-api",
    "30-canary",
    "40-ingress",
    "50-prometheus",
    "60-grafana",
]


def config_for(name: str) -> StackConfig:
    config = load_config(env=CONFIGS[name])
    check_config(config)
    return config


def chart_objects(config: StackConfig, chart_id: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as out:
        app = build_app(config, Path(out))
        (chart,) = [c for c in app.charts if c.node.id == chart_id]
        return list(cdk8s.Chart.to_json(chart))
