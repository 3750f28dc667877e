"""What Flagger only checks at run time, checked at synth time."""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.config import ConfigError, load_config
from stack.names import ACCEPTANCE_TEST, LOAD_TEST, LOAD_TEST_START, LOADTESTER, app_names
from stack.validation import check_config
from synth.main import build_app
from tests.support.synth_output import Synthesized

CONFIG = load_config(env={})
NAMES = app_names(CONFIG)
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def seconds(duration: str) -> int:
    """Go-style durations as Flagger writes them (1h2m3s, 60s, 1m)."""
    match = _DURATION.match(duration)
    assert match and duration, f"not a duration Flagger accepts: {duration!r}"
    h, m, s = (int(g or 0) for g in match.groups())
    return 3600 * h + 60 * m + s


def canary(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.one("Canary", NAMES.name)


def test_exactly_one_promotion_strategy(synthesized: Synthesized) -> None:
    analysis = canary(synthesized)["spec"]["analysis"]
    present = [k for k in ("stepWeight", "stepWeights", "iterations") if k in analysis]
    assert present == ["stepWeight"]
    assert 0 < analysis["stepWeight"] <= analysis["maxWeight"] <= 100


def test_analysis_interval_is_at_least_10s(synthesized: Synthesized) -> None:
    assert seconds(canary(synthesized)["spec"]["analysis"]["interval"]) >= 10


def test_each_metric_window_covers_two_scrapes(synthesized: Synthesized) -> None:
    scrape = CONFIG.monitoring.scrape_interval_s
    for metric in canary(synthesized)["spec"]["analysis"]["metrics"]:
        assert seconds(metric["interval"]) >= 2 * scrape, metric["name"]


def test_no_traffic_features_traefik_cannot_do(synthesized: Synthesized) -> None:
    spec = canary(synthesized)["spec"]
    analysis = spec["analysis"]
    for key in ("mirror", "mirrorWeight", "match", "sessionAffinity"):
        assert key not in analysis, key
    assert "sessionAffinity" not in spec.get("service", {})
    assert spec["provider"] == "traefik"


def test_builtin_metrics_and_thresholds_come_from_config(synthesized: Synthesized) -> None:
    metrics = {m["name"]: m for m in canary(synthesized)["spec"]["analysis"]["metrics"]}
    c = CONFIG.canary
    assert metrics["request-success-rate"]["thresholdRange"] == {"min": c.success_rate_min_percent}
    assert metrics["request-duration"]["thresholdRange"] == {"max": c.latency_max_ms}


def test_every_template_ref_resolves_to_a_synthesized_metric_template(
    synthesized: Synthesized,
) -> None:
    templates = {
        (t["metadata"]["namespace"], t["metadata"]["name"]): t
        for t in synthesized.find("MetricTemplate")
    }
    refs = [
        m["templateRef"]
        for m in canary(synthesized)["spec"]["analysis"]["metrics"]
        if "templateRef" in m
    ]
    assert refs, "no MetricTemplate on the app's own metrics"
    for ref in refs:
        key = (ref.get("namespace", CONFIG.namespace), ref["name"])
        assert key in templates, f"templateRef {key} has no MetricTemplate"
        provider = templates[key]["spec"]["provider"]
        assert provider == {"type": "prometheus", "address": CONFIG.prometheus_url}


def test_error_rate_template_is_nan_safe(synthesized: Synthesized) -> None:
    """Zero errors must give 0, not an empty result: `or vector(0)` on the numerator."""
    queries = [t["spec"]["query"] for t in synthesized.find("MetricTemplate")]
    error_rate = [q for q in queries if 'status=~"5' in q]
    assert error_rate, queries
    assert all("or vector(0)" in q for q in error_rate), error_rate


def test_targets_and_service_match_the_workload(synthesized: Synthesized) -> None:
    spec = canary(synthesized)["spec"]
    deployment = synthesized.one("Deployment", NAMES.name)
    hpa = synthesized.one("HorizontalPodAutoscaler", NAMES.name)
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


def test_ingress_route_targets_the_traefik_service_named_like_the_canary(
    synthesized: Synthesized,
) -> None:
    route = synthesized.one("IngressRoute")
    services = [s for r in route["spec"]["routes"] for s in r["services"]]
    assert services == [{"name": canary(synthesized)["metadata"]["name"], "kind": "TraefikService"}]
    assert route["spec"]["entryPoints"] == [CONFIG.ingress.entry_point]
    assert f"Host(`{CONFIG.ingress.host}`)" in route["spec"]["routes"][0]["match"]


def test_ingress_route_middlewares_exist(synthesized: Synthesized) -> None:
    middlewares = {
        (m["metadata"]["namespace"], m["metadata"]["name"]) for m in synthesized.find("Middleware")
    }
    kinds = {next(iter(m["spec"])) for m in synthesized.find("Middleware")}
    assert {"retry", "rateLimit", "headers"} <= kinds
    for route in synthesized.one("IngressRoute")["spec"]["routes"]:
        for ref in route["middlewares"]:
            assert (ref["namespace"], ref["name"]) in middlewares, ref


def _webhook(name: str, synthesized: Synthesized) -> dict[str, Any]:
    hooks = [h for h in canary(synthesized)["spec"]["analysis"]["webhooks"] if h["name"] == name]
    assert len(hooks) == 1, canary(synthesized)["spec"]["analysis"]["webhooks"]
    return hooks[0]


def _hey_flags(cmd: str) -> dict[str, str]:
    args = shlex.split(cmd)
    assert args[0] == "hey", cmd
    return dict(zip(args[1:-1:2], args[2:-1:2], strict=True))


def _analysis_ticks(analysis: dict[str, Any]) -> int:
    """Ticks from the pre-rollout call to promotion, the longest a healthy or
    rolled-back run takes: pre-rollout, every weight step, `threshold` failed
    checks (each holds the weight), Promoting, Finalising, one of margin."""
    steps = (len(analysis["stepWeights"]) if "stepWeights" in analysis
             else math.ceil(analysis["maxWeight"] / analysis["stepWeight"]))  # fmt: skip
    return 1 + steps + analysis["threshold"] + 2 + 1


def _check_load_covers_the_analysis(spec: dict[str, Any]) -> None:
    analysis = spec["analysis"]
    hooks = {h["name"]: h for h in analysis["webhooks"]}
    names = [h["name"] for h in analysis["webhooks"]]
    # Load starts at the last pre-rollout tick, after the acceptance test passed.
    assert names.index(ACCEPTANCE_TEST) < names.index(LOAD_TEST_START), names
    start, rollout = hooks[LOAD_TEST_START], hooks[LOAD_TEST]
    assert (start["type"], rollout["type"]) == ("pre-rollout", "rollout")
    # The loadtester drops a call while the same canary+command runs: the
    # commands must be identical for the rollout calls to be no-ops.
    assert start["metadata"] == rollout["metadata"]
    assert start["metadata"]["type"] == "cmd"
    load_s = seconds(_hey_flags(start["metadata"]["cmd"])["-z"])
    needed = _analysis_ticks(analysis) * seconds(analysis["interval"])
    assert load_s >= needed, (load_s, needed)


def test_load_starts_before_the_first_analysis_and_outlasts_it(synthesized: Synthesized) -> None:
    _check_load_covers_the_analysis(canary(synthesized)["spec"])


@pytest.mark.parametrize(
    "env",
    [
        {"ORDER_API_SRE_CANARY__INTERVAL_S": "30", "ORDER_API_SRE_CANARY__THRESHOLD": "10"},
        {"ORDER_API_SRE_CANARY__STEP_WEIGHTS": "5,10,20,40,60,80"},
        {"ORDER_API_SRE_CANARY__MAX_WEIGHT": "55", "ORDER_API_SRE_CANARY__STEP_WEIGHT": "20"},
    ],
)
def test_load_outlasts_the_analysis_at_any_config(env: dict[str, str], tmp_path: Path) -> None:
    config = load_config(env=env)
    check_config(config)
    (spec,) = [o["spec"] for o in yaml.safe_load_all(build_app(config, tmp_path).synth_yaml())
               if o and o["kind"] == "Canary"]  # fmt: skip
    _check_load_covers_the_analysis(spec)


def test_loadtester_never_kills_the_load_before_it_ends(synthesized: Synthesized) -> None:
    (container,) = synthesized.one("Deployment", LOADTESTER)["spec"]["template"]["spec"][
        "containers"
    ]
    timeout = next(a for a in container["command"] if a.startswith("-timeout="))
    load = _hey_flags(_webhook(LOAD_TEST, synthesized)["metadata"]["cmd"])["-z"]
    assert seconds(timeout.removeprefix("-timeout=")) > seconds(load)


def test_step_weights_render_as_flagger_step_weights(tmp_path: Path) -> None:
    config = load_config(env={"ORDER_API_SRE_CANARY__STEP_WEIGHTS": "[5, 10, 25, 50]"})
    check_config(config)
    (analysis,) = [o["spec"]["analysis"] for o in yaml.safe_load_all(
        build_app(config, tmp_path).synth_yaml()) if o and o["kind"] == "Canary"]  # fmt: skip
    assert analysis["stepWeights"] == [5, 10, 25, 50]
    assert "stepWeight" not in analysis and "maxWeight" not in analysis


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"ORDER_API_SRE_CANARY__MAX_WEIGHT": "100"}, "canary.max_weight"),
        ({"ORDER_API_SRE_CANARY__STEP_WEIGHTS": "10,50,100"}, "canary.step_weights"),
    ],
)
def test_full_weight_is_refused_with_the_reason(env: dict[str, str], field: str) -> None:
    """At 100 Flagger drops the primary's weight 0, which Traefik reads as 1."""
    with pytest.raises(ConfigError, match=rf"{field}: .*(1/101|TraefikService)"):
        check_config(load_config(env=env))


def test_pre_rollout_acceptance_posts_an_order_to_the_canary_and_requires_201(
    synthesized: Synthesized,
) -> None:
    hook = _webhook(ACCEPTANCE_TEST, synthesized)
    assert hook["type"] == "pre-rollout"
    cmd = hook["metadata"]["cmd"]
    assert hook["metadata"]["type"] == "bash"
    assert f"http://{NAMES.canary_service}.{CONFIG.namespace}/api/order" in cmd
    assert "-X POST" in cmd and "Content-Type: application/json" in cmd
    assert cmd.endswith("= 201")


def test_rollout_load_test_goes_through_traefik_with_the_route_host(
    synthesized: Synthesized,
) -> None:
    hook = _webhook(LOAD_TEST, synthesized)
    cmd = hook["metadata"]["cmd"]
    traefik = f"http://{CONFIG.ingress.traefik_service}.{CONFIG.monitoring.traefik_namespace}/"
    assert cmd.startswith("hey ") and traefik in cmd
    assert f"-host {CONFIG.ingress.host}" in cmd
    assert "-m POST" in cmd


def test_webhooks_reach_the_synthesized_loadtester(synthesized: Synthesized) -> None:
    service = synthesized.one("Service", "flagger-loadtester")
    url = f"http://{service['metadata']['name']}.{CONFIG.namespace}/"
    assert service["spec"]["ports"][0]["port"] == 80
    for hook in canary(synthesized)["spec"]["analysis"]["webhooks"]:
        assert hook["url"] == url
    assert synthesized.one("Deployment", "flagger-loadtester")
