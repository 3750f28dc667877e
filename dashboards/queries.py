"""Every PromQL expression of the stack, built from the metrics contract.

Metric names, labels and the probe/scrape path regex come from
`order_api.telemetry` (ours) and `dashboards.external_metrics` (Flagger,
Traefik); nothing here retypes them.

Three kinds of placeholders appear in the expressions:

* Grafana variables, left for Grafana: `$namespace`, `$__rate_interval`,
  `$__range`.
* `$app`: the app name from the stack config. It is NOT a Grafana variable;
  `for_app()` fills it in when the dashboards are built (kubernetes-mixin style
  config substitution), so the JSON only has `datasource` and `namespace`.
* Flagger MetricTemplate variables (`{{ namespace }}`, `{{ target }}`,
  `{{ interval }}`), filled by Flagger, or by the rehearsal's `rehearsal.spec.flagger_template`.

Tracks: the in-cluster relabeling gives primary pods `app="<app>-primary"` and
canary pods `app="<app>"` (Flagger's naming), plus `namespace` and `pod`.
"""

from __future__ import annotations

from string import Template

from dashboards import external_metrics as ext
from order_api import telemetry as t
from stack import scrape
from stack.names import (
    CANARY,
    ERROR_RATE,
    LATENCY_P99,
    PRIMARY,
    REQUEST_DURATION,
    REQUEST_SUCCESS_RATE,
    AppNames,
)

# Grafana variables.
NAMESPACE = "$namespace"
RATE_INTERVAL = "$__rate_interval"
RANGE = "$__range"
# Build-time placeholder for the app name (see module docstring).
APP = "$app"
# Flagger's names with both placeholders, spelled by stack.names.
_NAMES = AppNames(name=APP, namespace=NAMESPACE)
PRIMARY_APP = _NAMES.track_app(PRIMARY)
CANARY_APP = _NAMES.track_app(CANARY)

# A label the by-status-class query derives from `status` ("2xx", "5xx", ...).
STATUS_CLASS = "status_class"
STATUS_CLASSES: tuple[str, ...] = ("2xx", "3xx", "4xx", "5xx")

# Labels the in-cluster relabeling (synth's prometheus.yml) puts on every app target.
NAMESPACE_LABEL = scrape.NAMESPACE_LABEL
APP_LABEL = scrape.APP_LABEL


def matcher(label: str, op: str, value: str) -> str:
    """One label matcher, e.g. matcher("app", "=", "order-api")."""
    return f'{label}{op}"{value}"'


def selector(metric: str, *matchers: str) -> str:
    return f"{metric}{{{', '.join(matchers)}}}"


def status_class_regex(status_class: str) -> str:
    """`5xx` -> `5..` (a regex over the three-digit status label)."""
    return status_class[0] + ".."


API_ONLY = matcher(t.PATH, "!~", t.NON_API_PATH_REGEX)


def api_requests(namespace: str, app_matcher: str, *extra: str) -> str:
    """Business requests of one namespace/app (probes and scrapes excluded)."""
    return selector(
        t.REQUESTS_TOTAL, matcher(NAMESPACE_LABEL, "=", namespace), app_matcher, API_ONLY, *extra
    )


def api_latency_buckets(namespace: str, app_matcher: str) -> str:
    return selector(
        f"{t.REQUEST_LATENCY}_bucket",
        matcher(NAMESPACE_LABEL, "=", namespace),
        app_matcher,
        API_ONLY,
    )


def rate(series: str, window: str = RATE_INTERVAL) -> str:
    return f"rate({series}[{window}])"


def increase(series: str, window: str = RANGE) -> str:
    return f"increase({series}[{window}])"


def api_responses(namespace: str, app_matcher: str, status_class: str) -> str:
    """API requests answered with one status class ("4xx", "5xx", ...)."""
    status = matcher(t.STATUS, "=~", status_class_regex(status_class))
    return api_requests(namespace, app_matcher, status)


def server_errors(namespace: str, app_matcher: str) -> str:
    return api_responses(namespace, app_matcher, "5xx")


def error_percent(namespace: str, app_matcher: str, window: str) -> str:
    """5xx / all API requests * 100: 0 (not empty) when there are no errors,
    empty (never NaN) when there were no requests at all."""
    errors = f"sum({rate(server_errors(namespace, app_matcher), window)})"
    total = f"sum({rate(api_requests(namespace, app_matcher), window)})"
    return f"100 * ({errors} or vector(0)) / ({total} > 0)"


def quantile_ms(quantile: float, bucket_rates: str, *, by: tuple[str, ...] = ()) -> str:
    """A histogram quantile in milliseconds over per-`le` bucket rates."""
    labels = ", ".join((*by, "le"))
    return f"1000 * histogram_quantile({quantile}, sum by ({labels}) ({bucket_rates}))"


def latency_quantile_ms(quantile: float, namespace: str, app_matcher: str, window: str) -> str:
    return quantile_ms(quantile, rate(api_latency_buckets(namespace, app_matcher), window))


P99 = 0.99


_PRIMARY = matcher(APP_LABEL, "=", PRIMARY_APP)
_CANARY = matcher(APP_LABEL, "=", CANARY_APP)
_BOTH = matcher(APP_LABEL, "=~", f"{CANARY_APP}|{PRIMARY_APP}")

# --- Dashboard "order-api / Canary" ------------------------------------------

# 1. Request rate (req/s), per track and by status class.
REQUEST_RATE_PRIMARY = f"sum({rate(api_requests(NAMESPACE, _PRIMARY))})"
REQUEST_RATE_CANARY = f"sum({rate(api_requests(NAMESPACE, _CANARY))})"
REQUEST_RATE_TOTAL = f"sum({rate(api_requests(NAMESPACE, _BOTH))})"


def _by_status_class(series: str) -> str:
    # One label_replace per class instead of a "${1}xx" capture reference,
    # which Grafana would try to interpolate as a variable.
    for status_class in STATUS_CLASSES:
        regex = status_class_regex(status_class)
        series = (
            f'label_replace({series}, "{STATUS_CLASS}", "{status_class}", "{t.STATUS}", "{regex}")'
        )
    return f"sum by ({STATUS_CLASS}) ({series})"


REQUEST_RATE_BY_STATUS_CLASS = _by_status_class(rate(api_requests(NAMESPACE, _BOTH)))

# 2. Total errors over the dashboard range (both tracks), 0 when none.
TOTAL_4XX = f"sum({increase(api_responses(NAMESPACE, _BOTH, '4xx'))}) or vector(0)"
TOTAL_5XX = f"sum({increase(server_errors(NAMESPACE, _BOTH))}) or vector(0)"

# 3. Traffic split by version (percent of API requests; stacks to 100).
# A track with no series yet (canary before its first request) counts as 0.
TRAFFIC_SHARE_PRIMARY = f"100 * ({REQUEST_RATE_PRIMARY} or vector(0)) / ({REQUEST_RATE_TOTAL} > 0)"
TRAFFIC_SHARE_CANARY = f"100 * ({REQUEST_RATE_CANARY} or vector(0)) / ({REQUEST_RATE_TOTAL} > 0)"
# Flagger's intended canary weight, overlaid.
_WEIGHT_SERIES = selector(
    ext.FLAGGER_CANARY_WEIGHT,
    matcher(ext.FLAGGER_NAMESPACE, "=", NAMESPACE),
    matcher(ext.FLAGGER_WORKLOAD, "=", CANARY_APP),
)
CANARY_WEIGHT = f"max({_WEIGHT_SERIES})"

# 4. Error rate % per track.
ERROR_RATE_PRIMARY = error_percent(NAMESPACE, _PRIMARY, RATE_INTERVAL)
ERROR_RATE_CANARY = error_percent(NAMESPACE, _CANARY, RATE_INTERVAL)

# Latency quantiles per track (milliseconds).
LATENCY_P50_PRIMARY = latency_quantile_ms(0.5, NAMESPACE, _PRIMARY, RATE_INTERVAL)
LATENCY_P95_PRIMARY = latency_quantile_ms(0.95, NAMESPACE, _PRIMARY, RATE_INTERVAL)
LATENCY_P99_PRIMARY = latency_quantile_ms(P99, NAMESPACE, _PRIMARY, RATE_INTERVAL)
LATENCY_P50_CANARY = latency_quantile_ms(0.5, NAMESPACE, _CANARY, RATE_INTERVAL)
LATENCY_P95_CANARY = latency_quantile_ms(0.95, NAMESPACE, _CANARY, RATE_INTERVAL)
LATENCY_P99_CANARY = latency_quantile_ms(P99, NAMESPACE, _CANARY, RATE_INTERVAL)


# Router view: what Traefik sent to each Flagger-generated service.
def _router_rate(track: str) -> str:
    service = matcher(ext.TRAEFIK_SERVICE, "=~", ext.traefik_service_regex(_NAMES, track))
    return f"sum({rate(selector(ext.TRAEFIK_SERVICE_REQUESTS_TOTAL, service))})"


ROUTER_RATE_PRIMARY = _router_rate(PRIMARY)
ROUTER_RATE_CANARY = _router_rate(CANARY)

# Flagger's view of the rollout.
_FLAGGER_CANARY = (
    matcher(ext.FLAGGER_NAMESPACE, "=", NAMESPACE),
    matcher(ext.FLAGGER_NAME, "=", CANARY_APP),
)
CANARY_PHASE = f"max({selector(ext.FLAGGER_CANARY_STATUS, *_FLAGGER_CANARY)})"
# How the analysis table shows each metric: (name, factor, unit). Flagger
# records the built-in request-duration in seconds (`SetAnalysis(...,
# val.Seconds())`) though its threshold is in ms, request-success-rate in %,
# and a MetricTemplate's value as the query returns it.
ANALYSIS_UNIT_LABEL = "unit"
ANALYSIS_DISPLAY: tuple[tuple[str, int, str], ...] = (
    (REQUEST_SUCCESS_RATE, 1, "%"),
    (REQUEST_DURATION, 1000, "ms"),
    (ERROR_RATE, 1, "%"),
    (LATENCY_P99, 1, "ms"),
)


def _analysis_row(metric: str, factor: int, unit: str) -> str:
    label = ext.FLAGGER_METRIC
    series = selector(
        ext.FLAGGER_CANARY_METRIC_ANALYSIS, *_FLAGGER_CANARY, matcher(label, "=", metric)
    )
    value = f"max by ({label}) ({series})"
    scaled = value if factor == 1 else f"{factor} * {value}"
    return f'label_replace({scaled}, "{ANALYSIS_UNIT_LABEL}", "{unit}", "{label}", ".*")'


# One row per analysis metric, each in its own unit (the `unit` column).
CANARY_ANALYSIS_TABLE = " or ".join(_analysis_row(*row) for row in ANALYSIS_DISPLAY)


def events_in_range(counter: str, window: str = RANGE) -> str:
    """How often a counter went up in the range, counting series born in it.

    Flagger creates its rollout counters at 1, with no 0 sample before
    (`pkg/metrics/recorder.go`), so `increase()` misses the first event of
    every series born inside the range (the first rollout after a Flagger
    start, a new Flagger pod). A series without a sample a range ago counts
    with its last value (every event since it was born); older series count
    their increase. Rounded: `increase()` extrapolates to the range edges.
    """
    born = f"last_over_time({counter}[{window}]) unless {counter} offset {window}"
    return f"round(sum(({born}) or {increase(counter, window)})) or vector(0)"


CANARY_ROLLBACKS = events_in_range(selector(ext.FLAGGER_CANARY_FAILURES_TOTAL, *_FLAGGER_CANARY))
CANARY_PROMOTIONS = events_in_range(selector(ext.FLAGGER_CANARY_SUCCESSES_TOTAL, *_FLAGGER_CANARY))

# --- Flagger MetricTemplates (queries run by Flagger against the canary) -----

_F_NAMESPACE = "{{ namespace }}"
_F_TARGET = "{{ target }}"
_F_INTERVAL = "{{ interval }}"
_F_CANARY = matcher(APP_LABEL, "=", _F_TARGET)

# Canary error rate in percent of API requests: 0 when there are no errors.
# Empty when the canary served nothing in the window, which Flagger counts as
# a failed check ("no values found"), like its built-in success-rate check.
ERROR_RATE_TEMPLATE = error_percent(_F_NAMESPACE, _F_CANARY, _F_INTERVAL)
# Canary p99 latency in milliseconds over API requests.
LATENCY_P99_TEMPLATE = latency_quantile_ms(P99, _F_NAMESPACE, _F_CANARY, _F_INTERVAL)


# --- Rendering -----------------------------------------------------------------


def for_app(expr: str, app: str) -> str:
    """Fill the build-time `$app` placeholder; Grafana variables stay."""
    return Template(expr).safe_substitute(app=app)


def render_dashboard_query(
    expr: str, *, app: str, namespace: str, rate_interval: str, range_: str, interval: str
) -> str:
    """A dashboard expression as Grafana would send it (for tests and the rehearsal)."""
    values = {
        "app": app,
        "namespace": namespace,
        "__rate_interval": rate_interval,
        "__range": range_,
        "__interval": interval,
    }
    try:
        return Template(expr).substitute(values)
    except (KeyError, ValueError) as exc:
        raise ValueError(
            f"cannot render dashboard query {expr!r}: unknown variable {exc}"
        ) from None
