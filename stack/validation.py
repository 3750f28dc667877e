"""Checks that the config types cannot express, made before anything is written.

Flagger accepts a Canary that it then fails at run time (for example a metric
window shorter than two scrapes returns "no values found"); these checks stop
such a config at synth time, naming the field.
"""

from __future__ import annotations

import re

from stack.config import ConfigError, StackConfig

MIN_ANALYSIS_INTERVAL_S = 10  # Flagger's own lower bound.
UNPINNED_TAGS = {"", "latest"}
# The container image tag grammar; the tag is also the pod's ORDER_API_VERSION.
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _rules(c: StackConfig) -> list[tuple[str, bool, str]]:
    """(field, ok, why) for every rule."""
    a, k, m = c.app, c.canary, c.monitoring
    return [
        ("app.image_tag", a.image_tag not in UNPINNED_TAGS, "must be a pinned tag, not 'latest'"),
        ("app.image_tag", bool(IMAGE_TAG.fullmatch(a.image_tag)),
         "must be an image tag: 1-128 of letters, digits, _ . - (not starting with . or -)"),
        ("app.container_port", 1 <= a.container_port <= 65535, "must be a TCP port"),
        ("app.service_port", 1 <= a.service_port <= 65535, "must be a TCP port"),
        ("app.min_replicas", a.min_replicas >= 1, "must be at least 1"),
        ("app.max_replicas", a.max_replicas >= a.min_replicas, "must be >= app.min_replicas"),
        ("app.cpu_target_percent", 1 <= a.cpu_target_percent <= 100, "must be 1..100"),
        ("app.shutdown_delay_s", a.shutdown_delay_s >= 0, "must not be negative"),
        ("app.drain_timeout_s", a.drain_timeout_s >= 0, "must not be negative"),
        ("app.fault_error_rate", 0 <= a.fault_error_rate <= 1, "must be a fraction 0..1"),
        ("app.fault_delay_ms", a.fault_delay_ms >= 0, "must not be negative"),
        ("canary.interval_s", k.interval_s >= MIN_ANALYSIS_INTERVAL_S,
         f"Flagger needs an analysis interval of at least {MIN_ANALYSIS_INTERVAL_S}s"),
        ("canary.threshold", k.threshold >= 1, "must be at least 1"),
        ("canary.max_weight", 1 <= k.max_weight <= 100, "must be 1..100"),
        ("canary.step_weight", 1 <= k.step_weight <= k.max_weight,
         "must be 1..canary.max_weight"),
        ("canary.metric_window_s", k.metric_window_s >= 2 * m.scrape_interval_s,
         "must cover at least two scrapes (2 x monitoring.scrape_interval_s)"),
        ("canary.load_rps", k.load_rps >= 1, "must be at least 1"),
        ("monitoring.scrape_interval_s", m.scrape_interval_s >= 1, "must be at least 1"),
        ("monitoring.prometheus_port", 1 <= m.prometheus_port <= 65535, "must be a TCP port"),
        ("monitoring.grafana_port", 1 <= m.grafana_port <= 65535, "must be a TCP port"),
    ]  # fmt: skip


def _image_rules(c: StackConfig) -> list[tuple[str, str]]:
    m = c.monitoring
    return [
        ("canary.loadtester_image", c.canary.loadtester_image),
        ("monitoring.prometheus_image", m.prometheus_image),
        ("monitoring.grafana_image", m.grafana_image),
    ]


def _pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in UNPINNED_TAGS


def check_config(config: StackConfig) -> None:
    """Raise ConfigError listing every violated rule, each naming its field."""
    problems = [f"{field}: {why} (got {_value(config, field)!r})"
                for field, ok, why in _rules(config) if not ok]  # fmt: skip
    problems += [
        f"{field}: image must carry a pinned tag (got {image!r})"
        for field, image in _image_rules(config)
        if not _pinned(image)
    ]
    if problems:
        raise ConfigError("; ".join(problems))


def _value(config: StackConfig, dotted: str) -> object:
    obj: object = config
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj
