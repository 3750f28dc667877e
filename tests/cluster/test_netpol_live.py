"""dist/'s NetworkPolicies enforced by kube-router's controller, as on k3s:
connections that the policies deny fail, the ones the stack needs succeed.

Every flow is a real connection from a pod's own network namespace (its own
IP), to pod IPs and ports read from dist/ and the API server; a probe pod that
no policy admits stands for any other workload of the cluster.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cluster import layout, netns, netpol
from cluster.client import get_json, kubectl
from order_api.telemetry import ORDER_PATH, READY_PATH
from stack.config import StackConfig, load_config
from stack.names import LOADTESTER, app_names
from tests.cluster import inside, pod_netns
from tests.support.synth_output import DIST, load_manifests

pytestmark = pytest.mark.live

PROBE = "netpol-probe"
NO_ENDPOINTS = "netpol-no-endpoints"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Long enough for a sync after a pod change (kube-router syncs on each event).
SYNC_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def config() -> StackConfig:
    return load_config()


def _policies() -> list[dict[str, Any]]:
    return [m.obj for m in load_manifests(DIST) if m.kind == "NetworkPolicy"]


def _selector(selector: dict[str, Any]) -> str:
    """A LabelSelector as a kubectl -l string (matchLabels and In expressions)."""
    terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        assert e["operator"] == "In", e
        terms.append(f"{e['key']} in ({','.join(e['values'])})")
    return ",".join(terms)


def _pods(namespace: str, selector: dict[str, Any]) -> list[dict[str, Any]]:
    labels = _selector(selector)  # empty: every pod of the namespace
    items = get_json("pods", "-n", namespace, *(["-l", labels] if labels else []))["items"]
    return [p for p in items if p["status"].get("podIP") and p["status"].get("phase") == "Running"]


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _peer_pods(policy_ns: str, peer: dict[str, Any]) -> list[dict[str, Any]]:
    pod_selector = peer.get("podSelector") or {}
    if "namespaceSelector" not in peer:
        return _pods(policy_ns, pod_selector)
    namespaces = get_json("namespaces", "-l", _selector(peer["namespaceSelector"]))["items"]
    return [pod for ns in namespaces for pod in _pods(ns["metadata"]["name"], pod_selector)]


def _flows() -> list[tuple[str, dict[str, Any], int, dict[str, Any]]]:
    """(policy, target pod, port, peer) for every ingress rule of dist/."""
    flows = []
    for policy in _policies():
        ns, spec = policy["metadata"]["namespace"], policy["spec"]
        targets = [p for p in _pods(ns, spec["podSelector"]) if _ready(p)]
        for rule in spec.get("ingress") or []:
            for port in rule["ports"]:
                for target in targets:
                    for peer in rule["from"]:
                        flows.append((policy["metadata"]["name"], target, port["port"], peer))
    return flows


def _enforced(pod: dict[str, Any]) -> bool:
    """The controller has given the pod its firewall chain (the sync after it got an IP)."""
    meta = pod["metadata"]
    return f"POD name:{meta['name']} namespace: {meta['namespace']}" in netpol.filter_table()


def _wait_enforced(pod: dict[str, Any]) -> None:
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while not _enforced(pod):
        assert time.monotonic() < deadline, f"no firewall chain for {pod['metadata']['name']}"
        time.sleep(0.5)


def _probe_pod(config: StackConfig) -> dict[str, Any]:
    """A pod no policy admits, running order-api so it is Ready like any workload."""
    app = config.app
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": PROBE, "namespace": config.namespace, "labels": {"app": PROBE}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": f"{app.image_repository}:{app.image_tag}",
                    "env": [{"name": "ORDER_API_SHUTDOWN_DELAY_S", "value": "0"}],
                    "readinessProbe": {
                        "tcpSocket": {"port": app.container_port},
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


@pytest.fixture(scope="module")
def probe(cluster, config: StackConfig) -> Iterator[str]:
    """The probe pod's IP, once the controller has its chain."""
    kubectl("apply", "-f", "-", input=json.dumps(_probe_pod(config)))
    ns = config.namespace
    try:
        kubectl("-n", ns, "wait", "--for=condition=Ready", f"pod/{PROBE}", "--timeout=60s")
        pod = get_json("pod", PROBE, "-n", ns)
        _wait_enforced(pod)
        yield pod["status"]["podIP"]
    finally:
        kubectl("-n", ns, "delete", "pod", PROBE, "--wait=false", check=False)


def test_bridge_netfilter_is_on_in_the_cluster_namespace(cluster):
    # Off, bridged pod-to-pod packets would skip iptables and every policy.
    value = netns.run_inside("sysctl", "-n", netpol.BRIDGE_NF_SYSCTL).stdout.strip()
    assert value == "1", f"{netpol.BRIDGE_NF_SYSCTL}={value} in {layout.NETNS}"
    assert netpol.bridge_netfilter_on()


def test_the_controller_is_firewall_only(cluster):
    rules = netpol.filter_table()
    for chain in netpol.TOP_CHAINS:
        assert f"-j {chain}" in rules, chain
    # No service proxy (kube-proxy's chains only, no IPVS or kube-router's own)
    # and no routing (no kube-bridge, no dummy interface for service IPs).
    assert "KUBE-ROUTER-SERVICES" not in rules
    assert "KUBE-SERVICES" in rules
    links = netns.run_inside("ip", "-o", "link").stdout
    assert "kube-bridge" not in links and "kube-dummy-if" not in links


def test_a_pod_no_policy_admits_cannot_connect_to_order_api(probe, config: StackConfig):
    names = app_names(config)
    port = config.app.container_port
    tracks = {"matchExpressions": [{"key": "app", "operator": "In", "values": names.all_tracks}]}
    pods = [p for p in _pods(config.namespace, tracks) if _ready(p)]
    assert pods
    for pod in pods:
        ip = pod["status"]["podIP"]
        denied = pod_netns.connect(probe, ip, port)
        # Refused by the policy (kube-router REJECTs), while the node, which
        # no pod policy covers, connects: the server listens, the policy denies.
        assert denied.result != "connected", (pod["metadata"]["name"], denied)
        assert pod_netns.connect_from_node(ip, port).result == "connected"


def test_what_dist_denies_is_denied(probe):
    flows = _flows()
    assert flows
    for policy, target, port, _peer in flows:
        result = pod_netns.connect(probe, target["status"]["podIP"], port)
        assert result.result != "connected", (policy, target["metadata"]["name"], port, result)


def test_what_dist_admits_is_admitted(cluster):
    checked = set()
    for policy, target, port, peer in _flows():
        for source in _peer_pods(target["metadata"]["namespace"], peer):
            _wait_enforced(source)
            result = pod_netns.connect(source["status"]["podIP"], target["status"]["podIP"], port)
            assert result.result == "connected", (policy, source["metadata"]["name"], result)
            checked.add(policy)
    # Traefik, the loadtester, Prometheus and Flagger all run: their flows are shown.
    assert len(checked) >= 4, checked


def test_traefik_reaches_order_api(cluster, config: StackConfig):
    svc = get_json("service", config.ingress.traefik_service, "-n",
                   config.monitoring.traefik_namespace)  # fmt: skip
    url = f"http://{svc['spec']['clusterIP']}{ORDER_PATH}"
    body = '{"item":"netpol-test","quantity":1}'
    headers = {"Host": config.ingress.host, "Content-Type": "application/json"}
    assert inside.post(url, body, **headers).status == 201


def test_prometheus_scrapes_order_api_traefik_and_flagger(cluster, config: StackConfig):
    m = config.monitoring
    svc = get_json("service", m.prometheus_service, "-n", config.namespace)
    url = f"http://{svc['spec']['clusterIP']}:{m.prometheus_port}/api/v1/targets?state=active"
    targets = inside.get(url).json()["data"]["activeTargets"]
    health = {(t["labels"]["job"], t["health"]) for t in targets}
    jobs = {job for job, _ in health}
    assert {"kubernetes-pods", "traefik", "flagger"} <= jobs, health
    assert all(h == "up" for _, h in health), [
        (t["labels"], t["lastError"]) for t in targets if t["health"] != "up"
    ]


def test_the_loadtester_reaches_traefik(cluster, config: StackConfig):
    (loadtester,) = _pods(config.namespace, {"matchLabels": {"app": LOADTESTER}})
    svc = get_json("service", config.ingress.traefik_service, "-n",
                   config.monitoring.traefik_namespace)  # fmt: skip
    status = pod_netns.http_status(
        loadtester["status"]["podIP"],
        f"http://{svc['spec']['clusterIP']}{READY_PATH}",
        config.ingress.host,
    )
    assert status == 200, status


def test_dns_works_from_a_pod(probe, config: StackConfig):
    # CoreDNS is a process on the node IP behind the kube-dns Service.
    name = f"{config.monitoring.prometheus_service}.{config.namespace}.svc.{layout.CLUSTER_DOMAIN}"
    assert pod_netns.dns(probe, name, layout.DNS_SERVICE_IP) == (0, 1)


@pytest.fixture(scope="module")
def service_without_endpoints(cluster, config: StackConfig) -> Iterator[str]:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": NO_ENDPOINTS, "namespace": config.namespace},
        "spec": {
            "selector": {"app": NO_ENDPOINTS},
            "ports": [{"port": config.app.service_port, "targetPort": config.app.container_port}],
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(service))
    try:
        ip = get_json("service", NO_ENDPOINTS, "-n", config.namespace)["spec"]["clusterIP"]
        comment = f"{config.namespace}/{NO_ENDPOINTS} has no endpoints"
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while comment not in netpol.filter_table():
            assert time.monotonic() < deadline, "kube-proxy wrote no reject rule"
            time.sleep(0.5)
        yield ip
    finally:
        kubectl("-n", config.namespace, "delete", "service", NO_ENDPOINTS, check=False)


def _diagnosis() -> str:
    """The controller's chain and the end of its log, for a failure's message."""
    chain = "".join(
        netns.run_inside("iptables", "-w", "-v", "-n", "-L", name).stdout
        for name in ("FORWARD", "KUBE-ROUTER-FORWARD", "KUBE-SERVICES")
    )
    log = layout.paths().logs / f"{netpol.PROGRAM}.log"
    tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
    return chain + "\n".join(tail)


def _reject_hits(service: str) -> int:
    """Packets kube-proxy's REJECT of `service` (namespace/name) has met."""
    listed = netns.run_inside("iptables", "-w", "-x", "-v", "-n", "-L", "KUBE-SERVICES").stdout
    return sum(int(line.split()[0]) for line in listed.splitlines() if f"{service} has no" in line)


def test_kube_proxy_rules_survive_the_controller(probe, service_without_endpoints, config):
    port = config.app.service_port
    service = f"{config.namespace}/{NO_ENDPOINTS}"
    # Both the controller's chains and kube-proxy's reject are in the one filter table.
    rules = netpol.filter_table()
    assert all(f"-j {chain}" in rules for chain in netpol.TOP_CHAINS)
    before = _reject_hits(service)
    from_pod = pod_netns.connect(probe, service_without_endpoints, port)
    # kube-proxy's REJECT met the pod's packet (the ICMP error back to the pod
    # is not always delivered: a refusal or a timeout, never a connection).
    assert _reject_hits(service) > before, (from_pod, _diagnosis())
    assert from_pod.result != "connected", from_pod
    from_node = pod_netns.connect_from_node(service_without_endpoints, port)
    assert from_node.result == "ECONNREFUSED" and from_node.seconds < 1, from_node


def _proxy_first_rule() -> list[str]:
    listed = netns.run_inside("iptables", "-S", "KUBE-ROUTER-FORWARD").stdout.splitlines()
    found = [line for line in listed if netpol.PROXY_FIRST_COMMENT in line]
    assert len(found) == 1, _diagnosis()
    return shlex.split(found[0])  # ["-A", "KUBE-ROUTER-FORWARD", ...]


def test_without_kube_proxy_first_the_pod_is_not_rejected(probe, service_without_endpoints, config):
    """Why the controller puts kube-proxy's rules first: without that jump,
    kube-router v2.1.0 ACCEPTs the pod's packet before kube-proxy's REJECT
    (the packet then meets no one on the bridge: a timeout, not a refusal)."""
    port = config.app.service_port
    rule = _proxy_first_rule()
    service = f"{config.namespace}/{NO_ENDPOINTS}"
    for _attempt in range(3):
        netns.run_inside("iptables", "-D", *rule[1:])
        before = _reject_hits(service)
        bypassed = pod_netns.connect(probe, service_without_endpoints, port, timeout=2)
        missed = _reject_hits(service) == before
        # The controller puts the jump back every few seconds: a refusal counts
        # only if the jump was still gone when the connection ended.
        listed = netns.run_inside("iptables", "-S", "KUBE-ROUTER-FORWARD").stdout
        if netpol.PROXY_FIRST_COMMENT not in listed:
            netns.run_inside("iptables", "-I", rule[1], "1", *rule[2:])
            break
    assert missed and bypassed.result != "ECONNREFUSED", bypassed
    assert _proxy_first_rule() == rule
