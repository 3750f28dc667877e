"""A latency distribution read from order-api's own histogram (its /api/metrics text).

Summed over every label set of the order endpoint's series, the cumulative
bucket counts give a CDF; between two bounds it is linear, the assumption
histogram_quantile makes too. Observations above the last finite bound are
placed there (a histogram says nothing more about them).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from order_api.telemetry import ORDER_PATH, PATH, REQUEST_LATENCY
from rehearsal.power.rehearsal_links import SpecError

BUCKET_SUFFIX = "_bucket"


def read_histogram(path: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(finite bounds, cumulative share at each) of the order endpoint's latency."""
    try:
        text = path.read_text()
        families = list(text_string_to_metric_families(text))
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: cannot read Prometheus metrics: {exc}") from None
    counts: dict[float, float] = defaultdict(float)
    for family in families:
        for sample in family.samples:
            if sample.name != REQUEST_LATENCY + BUCKET_SUFFIX:
                continue
            if sample.labels.get(PATH) != ORDER_PATH:
                continue
            counts[float(sample.labels["le"])] += sample.value
    total = counts.pop(float("inf"), 0.0)
    if not counts or total <= 0:
        raise SpecError(
            f"{path}: no {REQUEST_LATENCY} observation of {ORDER_PATH} (scrape it under load)"
        )
    bounds = tuple(sorted(counts))
    return bounds, tuple(counts[b] / total for b in bounds)


def histogram_cdf(
    bounds: tuple[float, ...], shares: tuple[float, ...], seconds: np.ndarray, shift_ms: float
) -> np.ndarray:
    """P(latency + shift <= seconds), linear within buckets from (0, 0)."""
    xs = np.array([0.0, *bounds])
    ys = np.array([0.0, *shares])
    return np.interp(seconds - shift_ms / 1000, xs, ys, left=0.0, right=1.0)
