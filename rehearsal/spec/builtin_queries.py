"""Flagger's built-in Traefik checks, with the rehearsal's provider suffix.

For `provider: traefik`, Flagger's Traefik observer
(fluxcd/flagger `pkg/metrics/observers/traefik.go`) judges the canary from
Traefik's request-duration histogram of the canary's generated service:
- `request-success-rate`: the per-second rate of non-5xx requests over all
  requests (the `le="+Inf"` bucket counts every request), times 100;
- `request-duration`: the p99 of that histogram, in milliseconds; Flagger
  truncates it to whole milliseconds before comparing it with
  `thresholdRange` (see `flagger_value`).
Flagger's generated TraefikService reaches Traefik through the Kubernetes CRD
provider, so the `service` label ends in `@kubernetescrd`; the rehearsal's
Traefik uses the file provider (`@file`). That suffix is the only difference.
"""

from __future__ import annotations

import math

from dashboards import external_metrics as ext
from stack.names import KUBERNETES_CRD_PROVIDER, REQUEST_DURATION, REQUEST_SUCCESS_RATE

FLAGGER_PROVIDER_SUFFIX = KUBERNETES_CRD_PROVIDER
REHEARSAL_PROVIDER_SUFFIX = "@file"

# Flagger's Go-template variables stay in place; spec/metric_query.py renders them.
_INTERVAL = "{{ interval }}"


def _canary_service(provider_suffix: str) -> str:
    """Matcher for the canary's service: `<namespace>-<target>-canary-<port>@<provider>`."""
    regex = f"{{{{ namespace }}}}-{{{{ target }}}}-canary-[0-9a-zA-Z-]+{provider_suffix}"
    return f'{ext.TRAEFIK_SERVICE}=~"{regex}"'


def _bucket_rate(*matchers: str) -> str:
    series = f"{ext.TRAEFIK_SERVICE_REQUEST_DURATION}_bucket{{{', '.join(matchers)}}}"
    return f"rate({series}[{_INTERVAL}])"


def traefik_queries(provider_suffix: str) -> dict[str, str]:
    """Flagger's two Traefik checks for services of one provider."""
    service = _canary_service(provider_suffix)
    every_request = 'le="+Inf"'
    not_5xx = f'{ext.TRAEFIK_CODE}!~"5.."'
    success = (
        f"sum({_bucket_rate(service, not_5xx, every_request)})"
        f" / sum({_bucket_rate(service, every_request)}) * 100"
    )
    duration = f"histogram_quantile(0.99, sum({_bucket_rate(service)}) by (le)) * 1000"
    return {REQUEST_SUCCESS_RATE: success, REQUEST_DURATION: duration}


TRAEFIK_QUERIES: dict[str, str] = traefik_queries(REHEARSAL_PROVIDER_SUFFIX)


def flagger_value(metric: str, value: float) -> float:
    """The number Flagger compares with the threshold (whole ms for request-duration)."""
    if metric == REQUEST_DURATION and math.isfinite(value):
        return float(math.trunc(value))
    return value
