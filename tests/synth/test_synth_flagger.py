"""What Flagger only checks at run time, checked at synth time."""

from __future__ import annotations

import re
from typing import Any

from stack.config import load_config
from stack.names import app_names
from tests.synth.synth_harness import find, one

CONFIG = load_config(env={})
NAMES = app_names(CONFIG)
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def seconds(duration: str) -> int:
    """Go-style durations as Flagger writes them (1h2m3s, 60s, 1m)."""
    match = _DURATION.match(duration)
    assert match and duration, f"not a duration Flagger accepts: {duration!r}"
    h, m, s = (int(g or 0) for g in match.groups())
    return 3600 * h + 60 * m + s


def canary() -> dict[str, Any]:
    return one("Canary", NAMES.name)


def test_exactly_one_promotion_strategy() -> None:
    analysis = canary()["spec"]["analysis"]
    present = [k for k in ("stepWeight", "stepWeights", "iterations") if k in analysis]
    assert present == ["stepWeight"]
    assert 0 < analysis["stepWeight"] <= analysis["maxWeight"] <= 100


def test_analysis_interval_is_at_least_10s() -> None:
    assert seconds(canary()["spec"]["analysis"]["interval"]) >= 10


def test_each_metric_window_covers_two_scrapes() -> None:
    scrape = CONFIG.monitoring.scrape_interval_s
    for metric in canary()["spec"]["analysis"]["metrics"]:
        assert seconds(metric["interval"]) >= 2 * scrape, metric["name"]


def test_no_traffic_features_traefik_cannot_do() -> None:
    spec = canary()["spec"]
    analysis = spec["analysis"]
    for key in ("mirror", "mirrorWeight", "match", "sessionAffinity"):
        assert key not in analysis, key
    assert "sessionAffinity" not in spec.get("service", {})
    assert spec["provider"] == "traefik"


def test_builtin_metrics_and_thresholds_come_from_config() -> None:
    metrics = {m["name"]: m for m in canary()["spec"]["analysis"]["metrics"]}
    c = CONFIG.canary
    assert metrics["request-success-rate"]["thresholdRange"] == {"min": c.success_rate_min_percent}
    assert metrics["request-duration"]["thresholdRange"] == {"max": c.latency_max_ms}


def test_every_template_ref_resolves_to_a_synthesized_metric_template() -> None:
    templates = {
        (t["metadata"]["namespace"], t["metadata"]["name"]): t for t in find("MetricTemplate")
    }
    refs = [m["templateRef"] for m in canary()["spec"]["analysis"]["metrics"] if "templateRef" in m]
    assert refs, "no MetricTemplate on the app's own metrics"
    for ref in refs:
        key = (ref.get("namespace", CONFIG.namespace), ref["name"])
        assert key in templates, f"templateRef {key} has no MetricTemplate"
        provider = templates[key]["spec"]["provider"]
        assert provider == {"type": "prometheus", "address": CONFIG.prometheus_url}


def test_error_rate_template_is_nan_safe() -> None:
    """Zero errors must give 0, not an empty result: `or vector(0)` on the numerator."""
    queries = [t["spec"]["query"] for t in find("MetricTemplate")]
    error_rate = [q for q in queries if 'status=~"5' in q]
    assert error_rate, queries
    assert all("or vector(0)" in q for q in error_rate), error_rate


def test_targets_and_service_match_the_workload() -> None:
    spec = canary()["spec"]
    deployment = one("Deployment", NAMES.name)
    hpa = one("HorizontalPodAutoscaler", NAMES.name)
    assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAMES.name}
    assert spec["autoscalerRef"] == {
        "apiVersion": hpa["apiVersion"],
        "kind": "HorizontalPodAutoscaler",
        "name": hpa["metadata"]["name"],
    }
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert spec["service"]["targetPort"] in {p["containerPort"] for p in ports}
    assert spec["service"]["port"] == CONFIG.app.service_port


def test_ingress_route_targets_the_traefik_service_named_like_the_canary() -> None:
    route = one("IngressRoute")
    services = [s for r in route["spec"]["routes"] for s in r["services"]]
    assert services == [{"name": canary()["metadata"]["name"], "kind": "TraefikService"}]
    assert route["spec"]["entryPoints"] == [CONFIG.ingress.entry_point]
    assert f"Host(`{CONFIG.ingress.host}`)" in route["spec"]["routes"][0]["match"]


def test_ingress_route_middlewares_exist() -> None:
    middlewares = {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in find("Middleware")}
    kinds = {next(iter(m["spec"])) for m in find("Middleware")}
    assert {"retry", "rateLimit", "headers"} <= kinds
    for route in one("IngressRoute")["spec"]["routes"]:
        for ref in route["middlewares"]:
            assert (ref["namespace"], ref["name"]) in middlewares, ref


def _webhook(kind: str) -> dict[str, Any]:
    hooks = [h for h in canary()["spec"]["analysis"]["webhooks"] if h["type"] == kind]
    assert len(hooks) == 1, canary()["spec"]["analysis"]["webhooks"]
    return hooks[0]


def test_pre_rollout_acceptance_posts_an_order_to_the_canary_and_requires_201() -> None:
    hook = _webhook("pre-rollout")
    cmd = hook["metadata"]["cmd"]
    assert hook["metadata"]["type"] == "bash"
    assert f"http://{NAMES.canary_service}.{CONFIG.namespace}/api/order" in cmd
    assert "-X POST" in cmd and "Content-Type: application/json" in cmd
    assert cmd.endswith("= 201")


def test_rollout_load_test_goes_through_traefik_with_the_route_host() -> None:
    hook = _webhook("rollout")
    cmd = hook["metadata"]["cmd"]
    traefik = f"http://{CONFIG.ingress.traefik_service}.{CONFIG.monitoring.traefik_namespace}/"
    assert cmd.startswith("hey ") and traefik in cmd
    assert f"-host {CONFIG.ingress.host}" in cmd
    assert "-m POST" in cmd


def test_webhooks_reach_the_synthesized_loadtester() -> None:
    service = one("Service", "flagger-loadtester")
    url = f"http://{service['metadata']['name']}.{CONFIG.namespace}/"
    assert service["spec"]["ports"][0]["port"] == 80
    for hook in canary()["spec"]["analysis"]["webhooks"]:
        assert hook["url"] == url
    assert one("Deployment", "flagger-loadtester")
