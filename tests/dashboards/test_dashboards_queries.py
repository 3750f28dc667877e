"""The PromQL module: Flagger template rendering, and no retyped metric names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboards import external_metrics as ext
from dashboards import queries as q
from order_api import telemetry

PACKAGE = Path(q.__file__).resolve().parent


def render(text: str, **kw: object) -> str:
    args = {"namespace": "sre-demo", "target": "order-api", "interval": "1m", **kw}
    return q.render_flagger_template(text, **args)  # type: ignore[arg-type]


def test_error_rate_template_renders_like_flagger():
    out = render(q.ERROR_RATE_TEMPLATE)
    assert "{{" not in out and "}}" not in out
    assert 'namespace="sre-demo"' in out and 'app="order-api"' in out
    assert out.count("[1m]") == 2
    assert 'status=~"5.."' in out
    # Defined (0) when the canary has no 5xx series; never NaN.
    assert "or vector(0)" in out and "> 0)" in out
    assert out.startswith("100 * ")


def test_latency_template_is_p99_in_ms_on_the_canary():
    out = render(q.LATENCY_P99_TEMPLATE, interval="30s")
    assert out.startswith("1000 * histogram_quantile(0.99, ")
    assert f"{telemetry.REQUEST_LATENCY}_bucket" in out
    assert 'app="order-api"' in out and "[30s]" in out


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{namespace}}/{{ target }}", "sre-demo/order-api"),
        ('x{a="{{ variables.region }}"}', 'x{a="eu"}'),
        ("a  {{- interval -}}  b", "a1mb"),
        ("{{ name }}|{{ service }}", "tmpl|order-api-canary"),
    ],
)
def test_flagger_template_syntax(template, expected):
    out = render(template, variables={"region": "eu"}, name="tmpl", service="order-api-canary")
    assert out == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ pod }}", "not defined"),
        ("{{ variables.missing }}", "not set"),
        ("{{ namespace | printf }}", "unsupported"),
        ("{{ namespace }", "unbalanced"),
    ],
)
def test_flagger_template_errors(template, message):
    with pytest.raises(q.TemplateError, match=message):
        render(template)


def test_render_dashboard_query_substitutes_every_variable():
    out = q.render_dashboard_query(
        q.ERROR_RATE_CANARY,
        app="order-api",
        namespace="sre-demo",
        rate_interval="10s",
        range_="1h",
        interval="2s",
    )
    assert "$" not in out and "[10s]" in out


def test_render_dashboard_query_rejects_unknown_variables():
    with pytest.raises(ValueError, match="unknown variable"):
        q.render_dashboard_query(
            'up{a="$cluster"}',
            app="a",
            namespace="n",
            rate_interval="1m",
            range_="1h",
            interval="1m",
        )


def test_metric_names_are_never_retyped():
    """Metric names live in telemetry / external_metrics only."""
    names = [telemetry.REQUESTS_TOTAL, telemetry.REQUEST_LATENCY, telemetry.BUILD_INFO]
    names += [v for k, v in vars(ext).items() if k.isupper() and isinstance(v, str) and "_" in v]
    names = [n for n in names if re.fullmatch(r"[a-z_]+_[a-z_]+", n) and n.count("_") > 1]
    for path in PACKAGE.glob("*.py"):
        if path.name == "external_metrics.py":
            continue
        source = path.read_text()
        for name in names:
            assert f'"{name}' not in source, f"{path.name} retypes {name}"
