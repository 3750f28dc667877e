"""dist/'s Prometheus (its Deployment and ConfigMap, unchanged) in the cluster:
Kubernetes discovery, every target up, the rules loaded, every query answered."""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cluster import netns
from cluster.client import get_json, kubectl
from dashboards import alerts, rules
from dashboards import queries as q
from rehearsal.spec.flagger_template import render_flagger_template
from stack.config import load_config
from stack.names import app_names
from tests.cluster import inside

pytestmark = pytest.mark.live
DIST = Path(__file__).resolve().parents[2] / "dist"
HOST = "order-api.example.com"
ORDER = '{"item":"prometheus-test","quantity":1}'
TRAFFIC_S = 45
# A pod labelled like the canary track (app=order-api), since Flagger keeps
# the canary Deployment at zero until a release: discovery must label it so.
CANARY_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "canary-track-probe",
        "namespace": "sre-demo",
        "labels": {"app": "order-api"},
        "annotations": {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "8080",
            "prometheus.io/path": "/api/metrics",
        },
    },
    "spec": {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "order-api",
                "image": "order-api:1.0.0",
                "env": [{"name": "ORDER_API_SHUTDOWN_DELAY_S", "value": "0"}],
                "ports": [{"containerPort": 8080, "name": "http"}],
                "readinessProbe": {
                    "httpGet": {"path": "/api/ready", "port": 8080},
                    "periodSeconds": 1,
                },
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    },
}


class Prom:
    def __init__(self, base: str) -> None:
        self.base = base

    def api(self, path: str, **params: str) -> dict:
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        response = inside.get(url)
        assert response.status == 200, (path, params, response.body[:300])
        return response.json()["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]


def _ip(name: str, ns: str) -> str:
    return get_json("service", name, "-n", ns)["spec"]["clusterIP"]


def _hey(url: str, qps: int, host: str = "") -> subprocess.Popen[bytes]:
    from toolchain import bin_path

    argv = [
        str(bin_path("hey")),
        "-z",
        f"{TRAFFIC_S}s",
        "-q",
        str(qps),
        "-c",
        "1",
        "-m",
        "POST",
        "-T",
        "application/json",
        "-d",
        ORDER,
    ]
    if host:
        argv += ["-host", host]
    return subprocess.Popen(netns.inside([*argv, url]), stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def prom(cluster) -> Iterator[Prom]:
    kubectl("apply", "-f", "-", input=json.dumps(CANARY_POD))
    kubectl(
        "-n", "sre-demo", "wait", "--for=condition=Ready", "pod/canary-track-probe", "--timeout=60s"
    )
    p = Prom(f"http://{_ip('prometheus-service', 'sre-demo')}:9090")
    senders = [
        _hey(f"http://{_ip('traefik', 'traefik')}/api/order", 4, HOST),
        _hey(f"http://{_ip('order-api-canary', 'sre-demo')}/api/order", 2),
    ]
    try:
        for s in senders:
            s.wait(timeout=TRAFFIC_S + 30)
        time.sleep(16)  # one more scrape after the last request
        yield p
    finally:
        for s in senders:
            s.kill()
        kubectl(
            "-n", "sre-demo", "delete", "pod", "canary-track-probe", "--wait=false", check=False
        )


def test_every_target_is_discovered_and_up(prom):
    targets = prom.api("targets", state="active")["activeTargets"]
    by_job: dict[str, list[dict]] = {}
    for t in targets:
        by_job.setdefault(t["labels"]["job"], []).append(t)
    assert set(by_job) == {"kubernetes-pods", "traefik", "flagger", "prometheus"}
    assert all(t["health"] == "up" for t in targets), [
        (t["labels"], t["lastError"]) for t in targets if t["health"] != "up"
    ]
    apps = {t["labels"]["app"] for t in by_job["kubernetes-pods"]}
    assert apps == {"order-api-primary", "order-api"}, apps
    for t in by_job["kubernetes-pods"]:
        assert t["labels"]["namespace"] == "sre-demo" and t["labels"]["pod"]
    for series in prom.query("up"):
        assert series["value"][1] == "1", series["metric"]


def test_rules_of_the_configmap_are_loaded(prom):
    cm = next(
        d
        for d in yaml.safe_load_all((DIST / "50-prometheus.k8s.yaml").read_text())
        if d and d["kind"] == "ConfigMap" and d["metadata"]["name"] == "prometheus-rules"
    )
    shipped = {
        g["name"]: len(g["rules"])
        for text in cm["data"].values()
        for g in yaml.safe_load(text)["groups"]
    }
    loaded = {g["name"]: len(g["rules"]) for g in prom.api("rules")["groups"]}
    assert loaded == shipped
    for g in prom.api("rules")["groups"]:
        assert all(r["health"] == "ok" for r in g["rules"]), g


def _dashboard_exprs() -> list[tuple[str, str]]:
    config = load_config({})
    out = []
    for path in sorted((DIST / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = q.render_dashboard_query(
                    target["expr"],
                    app=config.app.name,
                    namespace=config.namespace,
                    rate_interval="1m",
                    range_="5m",
                    interval="15s",
                )
                out.append((f"dashboard {panel['title']} / {target['legendFormat']}", expr))
    return out


def _template_exprs() -> list[tuple[str, str]]:
    config = load_config({})
    docs = [d for p in sorted(DIST.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    out = []
    for d in docs:
        if d["kind"] == "MetricTemplate":
            names = app_names(config)
            for target in (names.name, names.primary):
                expr = render_flagger_template(
                    d["spec"]["query"],
                    namespace=config.namespace,
                    target=target,
                    interval="1m",
                    name=d["metadata"]["name"],
                )
                out.append((f"MetricTemplate {d['metadata']['name']} on {target}", expr))
    return out


def _rule_exprs() -> list[tuple[str, str]]:
    config = load_config({})
    out = [(f"rule {r.record}", r.expr) for r in rules.recording_rules(config)]
    out += [(f"recorded {r.record}", r.record) for r in rules.recording_rules(config)]
    alerting = alerts.alerting_rules(
        config,
        error_ratio=rules.error_ratio_name(config),
        latency_buckets=rules.latency_buckets_name(config),
    )
    return out + [(f"alert {a.name}", a.signal) for a in alerting]


# Valid but empty at Initialized, before any release: Flagger exports the
# canary weight and the analysis values only while it analyses one, and Traefik
# counts requests to the canary service only at a weight above 0.
EMPTY_UNTIL_A_RELEASE = (
    "flagger_canary_weight",
    "flagger_canary_metric_analysis",
    'service=~"sre-demo-order-api-canary-',
)


def test_every_dashboard_template_and_rule_expression_answers(prom):
    empty = []
    exprs = [*_dashboard_exprs(), *_template_exprs(), *_rule_exprs()]
    assert len(exprs) >= 25
    for what, expr in exprs:
        result = prom.query(expr)  # status success: a valid query for this Prometheus
        values = [float(s["value"][1]) for s in result]
        if not values:
            empty.append((what, expr))
            continue
        assert all(math.isfinite(v) for v in values), (what, expr, values)
    unexplained = [(w, e) for w, e in empty if not any(m in e for m in EMPTY_UNTIL_A_RELEASE)]
    print("empty until a release:", *(w for w, _ in empty), sep="\n  ")
    assert not unexplained, "\n".join(f"{w}: {e}" for w, e in unexplained)
