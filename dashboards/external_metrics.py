"""Metric names and labels of the components we do not own: Flagger and Traefik.

Checked against Flagger's `pkg/metrics/recorder.go` (controller subsystem
"flagger") and Traefik v3's Prometheus metrics. The dashboards, the rules, the
live tests and the rehearsal's stub exporter all import them from here, so a
rename upstream is one edit.
"""

from __future__ import annotations

from stack.names import AppNames

# --- Flagger (exported by the flagger controller on :8080/metrics) ---------
# Gauge {name, namespace}: 0 Progressing, 1 any other phase (Succeeded,
# Initialized, Promoting, ...), 2 Failed (rolled back).
FLAGGER_CANARY_STATUS = "flagger_canary_status"
FLAGGER_STATUS_PROGRESSING = 0
FLAGGER_STATUS_SUCCEEDED = 1
FLAGGER_STATUS_FAILED = 2
# Gauge {workload, namespace}: workload="<name>-primary" carries the primary
# weight, workload="<name>" the canary weight (percent).
FLAGGER_CANARY_WEIGHT = "flagger_canary_weight"
# Gauge {namespace}: number of Canary objects.
FLAGGER_CANARY_TOTAL = "flagger_canary_total"
# Gauge {name, namespace, metric}: the last value each analysis metric returned
# (the measured value, not pass/fail). Flagger exports no failed-check count;
# that lives in the Canary's status.failedChecks.
FLAGGER_CANARY_METRIC_ANALYSIS = "flagger_canary_metric_analysis"
# Counters {name, namespace, deployment_strategy, analysis_status}: finished
# rollouts that were promoted / rolled back.
FLAGGER_CANARY_SUCCESSES_TOTAL = "flagger_canary_successes_total"
FLAGGER_CANARY_FAILURES_TOTAL = "flagger_canary_failures_total"

FLAGGER_NAME = "name"  # the Canary's targetRef name
FLAGGER_NAMESPACE = "namespace"
FLAGGER_WORKLOAD = "workload"
FLAGGER_METRIC = "metric"
FLAGGER_DEPLOYMENT_STRATEGY = "deployment_strategy"
FLAGGER_ANALYSIS_STATUS = "analysis_status"

# --- Traefik v3 ---------------------------------------------------------------
# Counter {service, code, method, protocol}.
TRAEFIK_SERVICE_REQUESTS_TOTAL = "traefik_service_requests_total"
# Histogram {service, code, method, protocol} (Flagger's built-in Traefik
# checks query its `_bucket` series).
TRAEFIK_SERVICE_REQUEST_DURATION = "traefik_service_request_duration_seconds"
TRAEFIK_SERVICE = "service"
TRAEFIK_CODE = "code"


def traefik_service_regex(names: AppNames, track: str) -> str:
    """Regex for Traefik's `service` label of one Flagger-generated service.

    `AppNames.traefik_backend` names them `<namespace>-<app>-<track>-<port>`;
    Traefik appends the provider (`@kubernetescrd` in a cluster, `@file` in
    the rehearsal), so the port and suffix are left open.
    """
    return names.traefik_backend(track, ".*")
