"""The checks a tick runs: the pre-rollout webhook and every analysis metric.

Metrics are evaluated the way Flagger's Prometheus provider does
(`pkg/metrics/providers/prometheus.go`): an instant query, the value of the
last series returned, and an empty result or NaN is "no values found", which
fails the check like a value outside `thresholdRange`.
"""

from __future__ import annotations

import http.client
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from order_api import telemetry
from rehearsal.builtin_queries import TRAEFIK_QUERIES, flagger_value
from rehearsal.canary_spec import PRE_ROLLOUT, Canary, Metric, Webhook
from rehearsal.commands import HttpCheck
from rehearsal.durations import prometheus_duration
from rehearsal.flagger_template import TemplateError, render_flagger_template
from rehearsal.loadtester import LoadTester
from rehearsal.processes import ComponentError
from rehearsal.prometheus import Prometheus

# The service contract's valid order, for a pre-rollout hook whose command
# the rehearsal cannot read (not a curl call with an expected status).
CONTRACT_ORDER = '{"item": "rehearsal-acceptance-test", "quantity": 1}'
CONTRACT_CHECK = HttpCheck(
    method="POST",
    url=telemetry.ORDER_PATH,
    body=CONTRACT_ORDER,
    headers={"Content-Type": "application/json"},
    expect_status=201,
)


@dataclass(frozen=True, kw_only=True)
class MetricResult:
    name: str
    query: str
    value: float | None  # None: the query returned nothing or NaN
    min: float | None
    max: float | None
    error: str = ""
    unit: str = ""

    @property
    def passed(self) -> bool:
        if self.value is None or self.error:
            return False
        too_low = self.min is not None and self.value < self.min
        too_high = self.max is not None and self.value > self.max
        return not (too_low or too_high)

    @property
    def verdict(self) -> str:
        """ "99.8 % >= 99 %", "no values found", "812 ms > 500 ms"."""
        if self.error:
            return f"error: {self.error}"
        if self.value is None:
            return "no values found"
        unit = f" {self.unit}" if self.unit else ""
        parts = []
        if self.min is not None:
            parts.append(f"{'>=' if self.value >= self.min else '<'} {self.min:g}{unit}")
        if self.max is not None:
            parts.append(f"{'<=' if self.value <= self.max else '>'} {self.max:g}{unit}")
        return f"{self.value:.4g}{unit} {' '.join(parts)}".strip()


@dataclass(frozen=True, kw_only=True)
class HookResult:
    name: str
    passed: bool
    detail: str
    load_started: bool | None = None  # a hey command: started, or dropped (False)


def render_metric_query(canary: Canary, metric: Metric, *, speed: float) -> str:
    """The PromQL Flagger would run for `metric`, with its window divided by `speed`."""
    if metric.query is not None:
        # Flagger runs an inline query verbatim, without template rendering.
        return metric.query
    text = metric.template.query if metric.template else TRAEFIK_QUERIES[metric.name]
    try:
        rendered = render_flagger_template(
            text,
            namespace=canary.namespace,
            target=canary.target,
            interval=prometheus_duration(metric.interval_s / speed),
            variables=metric.variables,
            name=canary.name,
            service=canary.target,
            ingress=canary.target,
        )
    except TemplateError as exc:
        raise ComponentError(f"metric {metric.name}: {exc}") from None
    # Flagger collapses whitespace before sending (PrometheusProvider.trimQuery).
    return re.sub(r"\s+", " ", rendered).strip()


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
