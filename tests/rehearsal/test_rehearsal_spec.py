"""Reading the Canary from dist/, Flagger's built-in queries, speed limits."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from rehearsal.cli import main
from rehearsal.model.analysis_loop import check_speed
from rehearsal.spec.builtin_queries import (
    FLAGGER_PROVIDER_SUFFIX,
    REHEARSAL_PROVIDER_SUFFIX,
    TRAEFIK_QUERIES,
    flagger_value,
    traefik_queries,
)
from rehearsal.spec.canary_spec import SpecError, ingress_host, load_canary
from rehearsal.spec.duration_text import parse_duration, prometheus_duration
from rehearsal.spec.metric_query import render_metric_query
from rehearsal.spec.webhook_commands import parse_curl_check, parse_hey
from stack import names
from stack.config import load_config

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"


def test_reads_the_synthesized_canary_as_configured() -> None:
    config = load_config(env={})
    canary = load_canary(DIST)
    c = config.canary
    assert (canary.name, canary.namespace) == (config.app.name, config.namespace)
    assert canary.interval_s == c.interval_s
    assert (canary.threshold, canary.max_weight, canary.step_weight) == (
        c.threshold,
        c.max_weight,
        c.step_weight,
    )
    by_name = {m.name: m for m in canary.metrics}
    assert by_name["request-success-rate"].min == c.success_rate_min_percent
    assert by_name["request-duration"].max == c.latency_max_ms
    assert by_name["request-success-rate"].builtin
    templates = [m for m in canary.metrics if m.template is not None]
    assert templates, "the Canary should gate on at least one MetricTemplate"
    # Flagger runs the built-ins (first loop) before the templates (second loop).
    ordered = canary.metrics_in_flagger_order()
    assert [m.template is not None for m in ordered] == sorted(
        m.template is not None for m in ordered
    )


def test_pre_rollout_webhook_is_an_order_to_the_canary_expecting_201() -> None:
    canary = load_canary(DIST)
    acceptance, load_start = canary.webhooks_of("pre-rollout")
    assert (acceptance.name, load_start.name) == (names.ACCEPTANCE_TEST, names.LOAD_TEST_START)
    check = acceptance.http_check()
    assert check is not None, f"cannot read the curl request in {acceptance.metadata}"
    assert check.expect_status == 201
    assert check.method == "POST"
    assert f"//{canary.target}-canary." in check.url
    assert check.url.endswith("/api/order")
    assert '"quantity"' in (check.body or "")


def test_load_webhook_and_ingress_give_the_same_host() -> None:
    canary = load_canary(DIST)
    (hook,) = canary.webhooks_of("rollout")
    load = parse_hey(hook.metadata["cmd"])
    assert load is not None and load.method == "POST" and load.path == "/api/order"
    assert load.host == ingress_host(DIST, canary) == load_config(env={}).ingress.host
    assert hook in canary.load_hooks()
    # The same command before the first analysis: the loadtester drops the rollout calls.
    (_, load_start) = canary.webhooks_of("pre-rollout")
    assert load_start.metadata["cmd"] == hook.metadata["cmd"]
    assert load_start in canary.load_hooks()


def test_a_wrong_canary_name_lists_the_ones_found() -> None:
    with pytest.raises(SpecError, match="no Canary named 'nope'; Canaries found: order-api"):
        load_canary(DIST, name="nope")


def test_a_bad_hey_flag_names_the_webhook(tmp_path: Path) -> None:
    hooks = [{"name": "load", "type": "rollout", "metadata": {"cmd": "hey -c zero http://x/"}}]
    with pytest.raises(SpecError, match=r"webhooks \(load\): hey -c 'zero' is not a number"):
        load_canary(_write(tmp_path, _canary(webhooks=hooks)))


def _write(tmp_path: Path, *docs: dict) -> Path:
    (tmp_path / "30-canary.k8s.yaml").write_text(yaml.safe_dump_all(docs))
    return tmp_path


def _canary(**analysis: object) -> dict:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "shop", "namespace": "ns"},
        "spec": {
            "targetRef": {"name": "shop"},
            "service": {"port": 80},
            "analysis": {"interval": "30s", "threshold": 2, "stepWeight": 20, **analysis},
        },
    }


def test_flagger_defaults_apply(tmp_path: Path) -> None:
    canary = load_canary(_write(tmp_path, _canary(metrics=[{"name": "request-duration"}])))
    assert canary.max_weight == 100
    assert canary.metrics[0].interval == "1m"


def test_missing_metric_template_is_named(tmp_path: Path) -> None:
    metrics = [{"name": "errors", "templateRef": {"name": "shop-errors"}, "interval": "1m"}]
    with pytest.raises(SpecError, match=r"shop-errors\.ns matches no MetricTemplate"):
        load_canary(_write(tmp_path, _canary(metrics=metrics)))


def test_template_variables_reach_the_query(tmp_path: Path) -> None:
    template = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "t", "namespace": "ns"},
        "spec": {
            "provider": {"type": "prometheus", "address": "http://p:9090"},
            "query": 'sum(rate(x{app="{{ target }}",dir="{{ variables.dir }}"}[{{ interval }}]))',
        },
    }
    metric = {"name": "x", "templateRef": {"name": "t"}, "templateVariables": {"dir": "in"}}
    canary = load_canary(_write(tmp_path, _canary(metrics=[metric]), template))
    query = render_metric_query(canary, canary.metrics[0], speed=10)
    assert query == 'sum(rate(x{app="shop",dir="in"}[6s]))'


@pytest.mark.parametrize(
    ("docs", "message"),
    [
        ((), "no flagger.app/v1beta1 Canary"),
        ((_canary(iterations=10),), "progressive canaries only"),
        ((_canary(stepWeight=0),), "needs stepWeight or stepWeights"),
        ((_canary(metrics=[{"name": "mystery"}]),), "no templateRef or query"),
        ((_canary(interval="soon"),), "not a duration"),
    ],
)
def test_unusable_canaries_fail_with_a_clear_message(
    tmp_path: Path, docs: tuple[dict, ...], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        load_canary(_write(tmp_path, *docs))


def test_missing_dist_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="make synth"):
        load_canary(tmp_path / "nope")


def test_curl_checks_in_other_shapes() -> None:
    check = parse_curl_check("curl -sd '{\"a\":1}' -X PUT http://svc-canary.ns:8080/x | grep 202")
    # `-sd` is a combined flag the parser does not split: no body, but URL and status.
    assert check is not None and check.expect_status == 202 and check.url.endswith("/x")
    assert parse_curl_check("hey -z 1m http://x") is None
    assert parse_curl_check("curl http://x/ready") is None  # no expected status


def test_builtin_queries_are_flaggers_with_the_file_provider() -> None:
    in_cluster = traefik_queries(FLAGGER_PROVIDER_SUFFIX)
    assert set(TRAEFIK_QUERIES) == set(in_cluster) == {"request-success-rate", "request-duration"}
    for name, query in TRAEFIK_QUERIES.items():
        assert FLAGGER_PROVIDER_SUFFIX not in query
        assert '{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@file"' in query
        # The provider suffix is the only difference from what Flagger sends.
        assert in_cluster[name].replace(FLAGGER_PROVIDER_SUFFIX, REHEARSAL_PROVIDER_SUFFIX) == query
    assert TRAEFIK_QUERIES["request-duration"].rstrip().endswith("* 1000")
    # GetRequestDuration truncates to whole milliseconds.
    assert flagger_value("request-duration", 499.9) == 499
    assert flagger_value("request-success-rate", 99.5) == 99.5
    assert math.isnan(flagger_value("request-duration", math.nan))


def test_durations() -> None:
    assert parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5
    assert prometheus_duration(6) == "6s"
    assert prometheus_duration(60 / 7) == "8571ms"
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("1 minute")


def test_speed_keeps_every_window_at_four_scrapes() -> None:
    canary = load_canary(DIST)
    shortest = min(m.interval_s for m in canary.metrics)
    check_speed(canary, shortest / 2, 0.5)  # window 2 s = 4 x 0.5 s: allowed
    with pytest.raises(ValueError, match=r"--speed .* too fast.*use --speed 30 or less"):
        check_speed(canary, shortest / 2 * 1.01, 0.5)
    check_speed(canary, shortest, 0.25)  # faster with a faster scrape
    with pytest.raises(ValueError, match="positive"):
        check_speed(canary, 0, 0.5)


def test_help_lists_scenarios_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "500 on 20x the error budget" in text and "--junit" in text and "--json" in text
    assert "0 promoted, 1 rolled back, 2 could not run" in text
