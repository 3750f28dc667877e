"""The cluster's network namespace has no way out, and CoreDNS forwards nothing."""

from __future__ import annotations

import subprocess

import pytest

from cluster import layout, netns
from cluster.client import kubectl
from tests.cluster import inside

pytestmark = pytest.mark.live


def test_namespace_has_no_route_out(cluster):
    routes = netns.run_inside("ip", "-4", "route").stdout
    assert "default" not in routes
    assert sorted(line.split()[0] for line in routes.splitlines()) == sorted(
        [layout.POD_CIDR, layout.SERVICE_CIDR]
    )
    # Any address outside the cluster's: no route.
    for address in ("192.0.2.1", "8.8.8.8", "172.16.0.1"):
        result = netns.run_inside("ip", "route", "get", address, check=False)
        assert result.returncode != 0 and "unreachable" in result.stderr, result


def test_namespace_links_are_loopback_bridge_and_pod_veths(cluster):
    links = netns.run_inside("ip", "-o", "link").stdout.splitlines()
    names = [line.split(":")[1].strip().split("@")[0] for line in links]
    assert names[0] == "lo" and layout.BRIDGE in names
    others = [n for n in names if n not in ("lo", layout.BRIDGE)]
    assert others and all(n.startswith("veth") for n in others), names
    host = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    host_names = {line.split(":")[1].strip().split("@")[0] for line in host.splitlines()}
    assert not host_names & {layout.BRIDGE, *others}


def test_outside_names_fail_at_once_cluster_names_resolve(cluster):
    rcode, answers, seconds = inside.dns("example.com", layout.DNS_SERVICE_IP)
    assert rcode not in (-1, 0) and answers == 0 and seconds < 1, (rcode, seconds)
    rcode, answers, _ = inside.dns(
        f"prometheus-service.sre-demo.svc.{layout.CLUSTER_DOMAIN}", layout.DNS_SERVICE_IP
    )
    assert (rcode, answers) == (0, 1)


def test_pods_resolve_through_coredns(cluster):
    # The resolv.conf the node gives every pod (bind-mounted on /etc/resolv.conf).
    pods = list(layout.run_dir().glob("kubelet/pods/*/resolv.conf"))
    assert pods
    text = pods[0].read_text()
    assert f"nameserver {layout.DNS_SERVICE_IP}" in text
    assert f"svc.{layout.CLUSTER_DOMAIN}" in text


def test_pods_get_addresses_from_the_bridge(cluster):
    ips = kubectl("get", "pods", "-A", "-o", "jsonpath={.items[*].status.podIP}").stdout.split()
    assert ips and all(ip.startswith("10.244.0.") and ip != layout.NODE_IP for ip in ips)
