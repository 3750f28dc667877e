"""Flagger's built-in Traefik checks, as Flagger runs them.

Copied from fluxcd/flagger `pkg/metrics/observers/traefik.go` with one change:
the provider suffix of the `service` label. Flagger's generated TraefikService
reaches Traefik through the Kubernetes CRD provider (`@kubernetescrd`); the
rehearsal's Traefik uses the file provider, so its services end in `@file`.

`request-duration` multiplies Traefik's seconds by 1000 in PromQL, and
`GetRequestDuration` truncates the result to whole milliseconds
(`time.Duration(int64(value)) * time.Millisecond`) before comparing it with
`thresholdRange` (milliseconds).
"""

from __future__ import annotations

import math

FLAGGER_PROVIDER_SUFFIX = "@kubernetescrd"
REHEARSAL_PROVIDER_SUFFIX = "@file"

# Verbatim from Flagger (whitespace included; Flagger collapses it before sending).
_FLAGGER_TRAEFIK_QUERIES = {
    "request-success-rate": """
	sum(
		rate(
			traefik_service_request_duration_seconds_bucket{
				service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd",
				code!~"5..",
				le="+Inf"
			}[{{ interval }}]
		)
	)
	/
	sum(
		rate(
			traefik_service_request_duration_seconds_bucket{
				service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd",
				le="+Inf"
			}[{{ interval }}]
		)
	) * 100""",
    "request-duration": """
	histogram_quantile(
		0.99,
		sum(
			rate(
				traefik_service_request_duration_seconds_bucket{
					service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"
				}[{{ interval }}]
			)
		) by (le)
	) * 1000""",
}

TRAEFIK_QUERIES: dict[str, str] = {
    name: query.replace(FLAGGER_PROVIDER_SUFFIX, REHEARSAL_PROVIDER_SUFFIX)
    for name, query in _FLAGGER_TRAEFIK_QUERIES.items()
}


def flagger_value(metric: str, value: float) -> float:
    """The number Flagger compares with the threshold (whole ms for request-duration)."""
    if metric == "request-duration" and math.isfinite(value):
        return float(math.trunc(value))
    return value
