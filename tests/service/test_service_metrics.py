"""The metrics contract, checked with exact values from a real scrape."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from order_api import telemetry
from order_api.metrics import recorder
from tests.service.order_api_server import OrderApiServer

COUNTER = telemetry.REQUESTS_TOTAL
HISTOGRAM = telemetry.REQUEST_LATENCY
JSON = {"Content-Type": "application/json"}
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def scrape(client: httpx.Client, accept: str | None = None) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from one text-format scrape."""
    headers = {"Accept": accept} if accept else {}
    response = client.get(telemetry.METRICS_PATH, headers=headers)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_total(samples: dict, method: str, path: str, status: int) -> float:
    key = (COUNTER, (("method", method), ("path", path), ("status", str(status))))
    return samples.get(key, 0.0)


def series(samples: dict, name: str) -> list[dict[str, str]]:
    return [dict(labels) for sample_name, labels in samples if sample_name == name]


@pytest.fixture(scope="module")
def server() -> Iterator[OrderApiServer]:
    with OrderApiServer(ORDER_API_VERSION="9.9.9") as server:
        yield server


@pytest.fixture
def client(server: OrderApiServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.mark.live
def test_valid_and_invalid_orders_are_counted_exactly(client: httpx.Client) -> None:
    before = scrape(client)
    valid, unprocessable, malformed, unsupported, too_large, wrong_method = 7, 5, 4, 3, 2, 6
    for n in range(valid):
        assert client.post("/api/order", json={"item": f"i{n}", "quantity": 1}).status_code == 201
    for _ in range(unprocessable):
        assert client.post("/api/order", json={"item": "", "quantity": 1}).status_code == 422
    for _ in range(malformed):
        assert client.post("/api/order", content=b"{", headers=JSON).status_code == 400
    for _ in range(unsupported):
        assert client.post("/api/order", content=b"{}").status_code == 415
    for _ in range(too_large):
        big = b'{"item": "' + b"a" * 20_000 + b'", "quantity": 1}'
        assert client.post("/api/order", content=big, headers=JSON).status_code == 413
    for _ in range(wrong_method):
        assert client.get("/api/order").status_code == 405
    after = scrape(client)

    expected = {
        ("POST", 201): valid,
        ("POST", 422): unprocessable,
        ("POST", 400): malformed,
        ("POST", 415): unsupported,
        ("POST", 413): too_large,
        ("GET", 405): wrong_method,
    }
    for (method, status), count in expected.items():
        delta = requests_total(after, method, "/api/order", status) - requests_total(
            before, method, "/api/order", status
        )
        assert delta == count, (method, status)
    # Nothing else was counted under the order path.
    order_series = {
        (s["method"], int(s["status"]))
        for s in series(after, COUNTER)
        if s["path"] == telemetry.ORDER_PATH
    }
    assert order_series == set(expected)


@pytest.mark.live
def test_histogram_count_matches_counter_per_method_and_path(client: httpx.Client) -> None:
    for _ in range(3):
        client.post("/api/order", json={"item": "x", "quantity": 1})
        client.get("/api/health")
        client.get("/no/such/path")
    samples = scrape(client)
    totals: dict[tuple[str, str], float] = {}
    for labels in series(samples, COUNTER):
        key = (labels["method"], labels["path"])
        totals[key] = totals.get(key, 0) + requests_total(samples, *key, int(labels["status"]))
    # (The scrape in progress is recorded after its exposition is rendered, so
    # it is in neither the counter nor the histogram.)
    for (method, path), total in totals.items():
        count_key = (f"{HISTOGRAM}_count", (("method", method), ("path", path)))
        inf_key = (
            f"{HISTOGRAM}_bucket",
            (("le", "+Inf"), ("method", method), ("path", path)),
        )
        assert samples[count_key] == total, (method, path)
        assert samples[inf_key] == total, (method, path)


@pytest.mark.live
def test_latency_buckets_are_the_contract(client: httpx.Client) -> None:
    client.get("/api/health")
    samples = scrape(client)
    edges = sorted(
        float(dict(labels)["le"])
        for name, labels in samples
        if name == f"{HISTOGRAM}_bucket" and dict(labels)["path"] == telemetry.HEALTH_PATH
    )
    assert edges == [*telemetry.LATENCY_BUCKETS, float("inf")]
    assert 0.5 in edges and edges[0] == 0.001 and edges[-2] == 5.0


@pytest.mark.live
def test_unmatched_paths_share_one_label_value(client: httpx.Client) -> None:
    rng = random.Random(42)
    for _ in range(10):
        client.get("/warmup-" + str(rng.random()))
    before = scrape(client)
    paths = [
        "/" + "/".join("".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(3))
        for _ in range(200)
    ]
    for path in paths:
        assert client.get(path).status_code == 404
    after = scrape(client)

    assert requests_total(after, "GET", telemetry.UNMATCHED_PATH, 404) - requests_total(
        before, "GET", telemetry.UNMATCHED_PATH, 404
    ) == len(paths)
    assert len(series(after, COUNTER)) == len(series(before, COUNTER))
    assert len(series(after, f"{HISTOGRAM}_bucket")) == len(series(before, f"{HISTOGRAM}_bucket"))
    exposition = client.get(telemetry.METRICS_PATH).text
    assert not any(path in exposition for path in paths)


@pytest.mark.live
def test_path_labels_are_templates_or_unmatched(client: httpx.Client) -> None:
    client.get("/api/order/../../etc/passwd")
    client.post("/api/health")  # 405 on a known path keeps its template
    samples = scrape(client)
    allowed = {*telemetry.NON_API_PATHS, telemetry.ORDER_PATH, telemetry.VERSION_PATH}
    allowed.add(telemetry.UNMATCHED_PATH)
    assert {labels["path"] for labels in series(samples, COUNTER)} <= allowed
    assert requests_total(samples, "POST", telemetry.HEALTH_PATH, 405) >= 1


@pytest.mark.live
def test_unknown_methods_share_one_label_value(client: httpx.Client) -> None:
    before = scrape(client)
    for method in ("BREW", "PROPFIND", "X-CUSTOM"):
        assert client.request(method, "/api/order").status_code == 405
    after = scrape(client)
    labels = {s["method"] for s in series(after, COUNTER)}
    assert labels <= {*telemetry.STANDARD_METHODS, telemetry.OTHER_METHOD}
    delta = requests_total(after, telemetry.OTHER_METHOD, "/api/order", 405) - requests_total(
        before, telemetry.OTHER_METHOD, "/api/order", 405
    )
    assert delta == 3


@pytest.mark.live
def test_probes_and_scrapes_are_counted_under_their_own_paths(client: httpx.Client) -> None:
    before = scrape(client)
    for _ in range(4):
        assert client.get("/api/health").status_code == 200
    for _ in range(2):
        assert client.get("/api/ready").status_code == 200
    after = scrape(client)

    assert (
        requests_total(after, "GET", telemetry.HEALTH_PATH, 200)
        - requests_total(before, "GET", telemetry.HEALTH_PATH, 200)
        == 4
    )
    assert (
        requests_total(after, "GET", telemetry.READY_PATH, 200)
        - requests_total(before, "GET", telemetry.READY_PATH, 200)
        == 2
    )
    # The scrape between `before` and `after` is itself counted, once.
    assert (
        requests_total(after, "GET", telemetry.METRICS_PATH, 200)
        - requests_total(before, "GET", telemetry.METRICS_PATH, 200)
        == 1
    )
    # Business queries exclude exactly these paths with NON_API_PATH_REGEX.
    assert set(telemetry.NON_API_PATH_REGEX.split("|")) == {
        telemetry.HEALTH_PATH,
        telemetry.READY_PATH,
        telemetry.METRICS_PATH,
    }


@pytest.mark.live
def test_build_info_carries_the_version(client: httpx.Client) -> None:
    samples = scrape(client)
    assert samples[(telemetry.BUILD_INFO, (("version", "9.9.9"),))] == 1.0


@pytest.mark.live
def test_no_created_series(client: httpx.Client) -> None:
    client.get("/api/health")
    assert "_created" not in client.get(telemetry.METRICS_PATH).text


@pytest.mark.live
def test_text_format_by_default(client: httpx.Client) -> None:
    response = client.get(telemetry.METRICS_PATH)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert not response.text.rstrip().endswith("# EOF")
    assert f"# TYPE {COUNTER} counter" in response.text


@pytest.mark.live
def test_openmetrics_when_accepted(client: httpx.Client) -> None:
    client.get("/api/health")
    response = client.get(telemetry.METRICS_PATH, headers={"Accept": OPENMETRICS})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    families = {family.name: family for family in openmetrics_families(response.text)}
    # OpenMetrics names the counter family without `_total`.
    assert families[COUNTER.removesuffix("_total")].type == "counter"
    assert families[HISTOGRAM].type == "histogram"
    assert families[telemetry.BUILD_INFO.removesuffix("_info")].type == "info"


@pytest.mark.live
def test_prometheus_style_accept_header_gets_openmetrics(client: httpx.Client) -> None:
    # What Prometheus 2.x/3.x sends by default.
    accept = (
        "application/openmetrics-text;version=1.0.0;q=0.5,"
        "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"
    )
    response = client.get(telemetry.METRICS_PATH, headers={"Accept": accept})
    assert response.headers["content-type"].startswith("application/openmetrics-text")


def test_recorder_matches_inc_and_observe() -> None:
    # The hot path records through bound children; a scrape must not tell the
    # difference, at every bucket edge and beyond the last one.
    values = [0.0, 0.0004, *telemetry.LATENCY_BUCKETS, 0.0026, 0.5000001, 7.5, 60.0]
    registries = []
    for fast in (False, True):
        registry = CollectorRegistry()
        metrics = telemetry.create_metrics(registry, version="1.0.0")
        requests = metrics.requests.labels("POST", telemetry.ORDER_PATH, "201")
        latency = metrics.latency.labels("POST", telemetry.ORDER_PATH)
        record = recorder(requests, latency)
        for seconds in values:
            if fast:
                record(seconds)
            else:
                requests.inc()
                latency.observe(seconds)
        # `_created` holds the creation time, which differs between the two.
        lines = generate_latest(registry).splitlines()
        registries.append([line for line in lines if b"_created" not in line])
    assert registries[0] == registries[1]
    count = f'{HISTOGRAM}_count{{method="POST",path="{telemetry.ORDER_PATH}"}} {len(values)}.0'
    assert count.encode() in registries[1]
