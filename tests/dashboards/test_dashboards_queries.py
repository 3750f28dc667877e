"""The PromQL module: Flagger template rendering, and no retyped metric names."""

from __future__ import annotations

import itertools
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dashboards import external_metrics as ext
from dashboards import queries as q
from order_api import telemetry
from rehearsal.measure.loopback import LOOPBACK, free_port
from rehearsal.spec import flagger_template
from tests.support.live_processes import running, wait_for
from tests.support.prerequisites import require_binary

PACKAGE = Path(q.__file__).resolve().parent


def render(text: str, **kw: object) -> str:
    args = {"namespace": "sre-demo", "target": "order-api", "interval": "1m", **kw}
    return flagger_template.render_flagger_template(text, **args)  # type: ignore[arg-type]


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
    with pytest.raises(flagger_template.TemplateError, match=message):
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


# --- The Rollouts panel against a real Prometheus ------------------------------

RANGE_S = 3600
STEP_S = 15
_LABELS = 'name="order-api",namespace="sre-demo"'


def _counter_samples(metric: str, pod: str, points: list[tuple[int, float]]) -> list[str]:
    """OpenMetrics lines of one counter series, a sample every STEP_S between points."""
    lines = []
    for (start, value), (end, _) in itertools.pairwise(points):
        for ts in range(start, end, STEP_S):
            lines.append(f'{metric}_total{{{_LABELS},pod="{pod}"}} {value} {ts}')
    return lines


def _flagger_history(now: int) -> str:
    """A Flagger restart inside the range: the old pod's counters go on, the new
    pod creates its counters at 1 (no 0 sample), as `pkg/metrics/recorder.go` does."""
    start = now - 2 * RANGE_S
    promoted = ext.FLAGGER_CANARY_SUCCESSES_TOTAL.removesuffix("_total")
    failed = ext.FLAGGER_CANARY_FAILURES_TOTAL.removesuffix("_total")
    lines = [f"# TYPE {promoted} counter"]
    # Old pod: 3 promotions before the range, a 4th inside it.
    lines += _counter_samples(promoted, "old", [(start, 3), (now - 2400, 4), (now + STEP_S, 0)])
    # New pod: its first promotion inside the range, born at 1.
    lines += _counter_samples(promoted, "new", [(now - 1800, 1), (now + STEP_S, 0)])
    lines.append(f"# TYPE {failed} counter")
    # Old pod: 5 rollbacks long ago, none in the range.
    lines += _counter_samples(failed, "old", [(start, 5), (now + STEP_S, 0)])
    # New pod: born at 1 inside the range, a 2nd rollback later.
    lines += _counter_samples(failed, "new", [(now - 1200, 1), (now - 600, 2), (now + STEP_S, 0)])
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def flagger_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real Prometheus serving a backfilled Flagger history; (query URL, evaluation time)."""
    prometheus = require_binary("prometheus", "make toolchain")
    promtool = require_binary("promtool", "make toolchain")
    work = tmp_path_factory.mktemp("rollouts")
    now = int(time.time()) // STEP_S * STEP_S - 600
    (work / "history.om").write_text(_flagger_history(now))
    data = work / "data"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "history.om"),
         str(data)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (work / "prometheus.yml").write_text("global: {}\n")
    port = free_port()
    log = work / "prometheus.log"
    with running(
        [prometheus, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
         f"--web.listen-address={LOOPBACK}:{port}"],
        log,
    ):  # fmt: skip
        base = f"http://{LOOPBACK}:{port}"
        wait_for(
            lambda: httpx.get(f"{base}/-/ready").status_code == 200, what="Prometheus", log=log
        )
        yield f"{base}/api/v1/query", now


def _instant(flagger_history: tuple[str, int], expr: str) -> list[float]:
    url, now = flagger_history
    rendered = q.render_dashboard_query(
        expr, app="order-api", namespace="sre-demo", rate_interval="1m",
        range_=f"{RANGE_S // 3600}h", interval=f"{STEP_S}s",
    )  # fmt: skip
    response = httpx.get(url, params={"query": rendered, "time": str(now)})
    assert response.status_code == 200, response.text
    return [float(r["value"][1]) for r in response.json()["data"]["result"]]


@pytest.mark.live
@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # 1 on the old pod + the new pod's first, born at 1 inside the range.
        (q.CANARY_PROMOTIONS, 2),
        # None on the old pod + the new pod's two (born at 1, then 2).
        (q.CANARY_ROLLBACKS, 2),
    ],
    ids=["promotions", "rollbacks"],
)
def test_rollouts_count_counters_born_in_the_range(
    flagger_history: tuple[str, int], expr: str, expected: int
) -> None:
    assert _instant(flagger_history, expr) == [expected]
    # What increase() alone reads: the born series' first event is lost.
    counter = expr.split("(last_over_time(")[1].split("[")[0]
    (plain,) = _instant(flagger_history, f"sum({q.increase(counter)})")
    assert round(plain) == expected - 1


@pytest.mark.live
def test_rollouts_read_0_without_flagger_series(flagger_history: tuple[str, int]) -> None:
    expr = q.CANARY_PROMOTIONS.replace('name="$app"', 'name="no-such-canary"')
    assert _instant(flagger_history, expr) == [0]
