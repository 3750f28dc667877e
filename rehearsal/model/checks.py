"""The checks a tick runs: the pre-rollout webhook and every analysis metric.

Metrics are evaluated the way Flagger's Prometheus provider does
(`pkg/metrics/providers/prometheus.go`): an instant query, the value of the
last series returned, and an empty result or NaN is "no values found", which
fails the check like a value outside `thresholdRange`.
"""

from __future__ import annotations

import http.client
import math
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from rehearsal.failures import ComponentError
from rehearsal.model.loadtester import LoadTester
from rehearsal.model.prometheus_server import Prometheus
from rehearsal.outcome import HookResult, MetricResult
from rehearsal.spec.builtin_queries import flagger_value
from rehearsal.spec.canary_spec import PRE_ROLLOUT, Canary, Metric, Webhook
from rehearsal.spec.metric_query import render_metric_query
from rehearsal.spec.webhook_commands import CONTRACT_CHECK, HttpCheck


def evaluate_metric(
    prometheus: Prometheus, canary: Canary, metric: Metric, *, speed: float
) -> MetricResult:
    query = render_metric_query(canary, metric, speed=speed)
    value: float | None = None
    error = ""
    try:
        series = prometheus.query(query)
    except ComponentError as exc:  # Prometheus answered with an error: a failed check
        error = str(exc)
    except OSError as exc:  # Prometheus is gone: the rehearsal cannot go on
        raise ComponentError(f"Prometheus at {prometheus.url} did not answer: {exc}") from None
    else:
        if series and not math.isnan(series[-1][1]):
            value = flagger_value(metric.name, series[-1][1])
    return MetricResult(
        name=metric.name,
        query=query,
        value=value,
        min=metric.min,
        max=metric.max,
        error=error,
        unit=metric.unit,
    )


def resolve_url(check_url: str, services: Mapping[str, str]) -> str:
    """Map an in-cluster URL (http://order-api-canary.sre-demo/api/order) to loopback."""
    parts = urlsplit(check_url)
    if not parts.hostname:  # already a bare path (the contract fallback)
        return services["canary"] + check_url
    service = parts.hostname.split(".")[0]
    if service not in services:
        raise ComponentError(
            f"webhook URL {check_url}: host {service!r} is none of the rehearsed services "
            f"({', '.join(sorted(services))})"
        )
    path = parts.path or "/"
    return services[service] + path + (f"?{parts.query}" if parts.query else "")


def send(check: HttpCheck, url: str, *, timeout_s: float = 10.0) -> int:
    """Send the webhook's request to `url`; its HTTP status."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout_s)
    try:
        conn.request(
            check.method,
            parts.path + (f"?{parts.query}" if parts.query else ""),
            body=check.body.encode() if check.body is not None else None,
            headers=dict(check.headers),
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def run_webhook(
    hook: Webhook,
    *,
    services: Mapping[str, str],
    loadtester: LoadTester,
    canary_key: str,
    at: float | None = None,
) -> HookResult:
    """Call one pre-rollout or rollout webhook as Flagger and its loadtester would.

    A hey command goes to the loadtester: it starts in the background (the
    loadtester answers 202, which passes) or is dropped while the same command
    still runs. A curl check runs to its end and must return its status. A
    pre-rollout command the rehearsal cannot read is played as the service
    contract's order check; such a rollout command is not rehearsed (passes).
    """
    if hook.hey() is not None:
        call = loadtester.call(canary_key, hook.name, hook.cmd, at=at)
        return HookResult(
            name=hook.name, passed=True, detail=call.detail, load_started=call.started
        )
    check = hook.http_check()
    source = "its curl command"
    if check is None:
        if (hook.type or "rollout") != PRE_ROLLOUT:
            return HookResult(
                name=hook.name, passed=True, detail="not rehearsed: not a curl or hey command"
            )
        check, source = CONTRACT_CHECK, "the service contract (command not a curl check)"
    started = time.monotonic()
    try:
        url = resolve_url(check.url, services)
        status = send(check, url)
    except (OSError, http.client.HTTPException) as exc:
        return HookResult(name=hook.name, passed=False, detail=f"{type(exc).__name__}: {exc}")
    took = time.monotonic() - started
    passed = status == check.expect_status
    detail = (
        f"{check.method} {urlsplit(check.url).path} answered {status} "
        f"(want {check.expect_status}, from {source}) in {took * 1000:.0f} ms"
    )
    return HookResult(name=hook.name, passed=passed, detail=detail)
