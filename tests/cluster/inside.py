"""Reach the cluster from a test: everything runs inside its network namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from cluster import netns
from cluster.client import get_json
from stack.config import StackConfig

# Runs inside the namespace: sends the requests (bounded: a fixed list, a
# timeout each) with a few threads, prints one JSON result per request.
_SENDER = r"""
import json, sys, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor
spec = json.load(sys.stdin)
def send(r):
    req = urllib.request.Request(r["url"], data=r.get("body", "").encode() or None,
                                 method=r["method"], headers=r.get("headers", {}))
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read().decode()
            return {"status": resp.status, "headers": dict(resp.headers), "body": body}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "headers": dict(e.headers), "body": e.read().decode()}
    except Exception as e:
        return {"status": 0, "headers": {}, "body": repr(e)}
with ThreadPoolExecutor(spec["concurrency"]) as pool:
    print(json.dumps(list(pool.map(send, spec["requests"]))))
"""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    requests: list[dict[str, Any]], concurrency: int = 1, timeout: float = 60
) -> list[Response]:
    spec = json.dumps({"requests": requests, "concurrency": concurrency})
    result = subprocess.run(
        netns.inside([sys.executable, "-c", _SENDER]),
        input=spec,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return [Response(r["status"], r["headers"], r["body"]) for r in json.loads(result.stdout)]


def get(url: str, **headers: str) -> Response:
    return send([{"method": "GET", "url": url, "headers": headers}])[0]


def get_once_listening(url: str, timeout_s: float = 30) -> Response:
    """GET `url` once the server listens: a pod that an exec probe made Ready may
    still be starting its server (status 0 is a refused connection). Bounded."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = get(url)
        if response.status != 0 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def post(url: str, body: str, **headers: str) -> Response:
    return send([{"method": "POST", "url": url, "body": body, "headers": headers}])[0]


# A DNS query over UDP from inside the namespace: rcode and elapsed seconds.
_DNS = r"""
import socket, struct, sys, time
name, server = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
t = time.monotonic(); s.sendto(q, (server, 53))
try:
    data = s.recv(4096)
    print(data[3] & 0x0F, struct.unpack(">H", data[6:8])[0], time.monotonic() - t)
except socket.timeout:
    print(-1, 0, time.monotonic() - t)
"""


def dns(name: str, server: str) -> tuple[int, int, float]:
    """(rcode, answer count, seconds); rcode -1 on no answer within 5 s."""
    out = subprocess.run(
        netns.inside([sys.executable, "-c", _DNS, name, server]),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


ORDER = json.dumps({"item": "settings-test", "quantity": 1})


def order_through_traefik(config: StackConfig) -> Response:
    """An order sent to the settings' Traefik Service and host, retried while
    the route is being wired."""
    namespace, service = config.monitoring.traefik_namespace, config.ingress.traefik_service
    spec = get_json("service", service, "-n", namespace)["spec"]
    number = next(p["port"] for p in spec["ports"] if p["name"] == config.ingress.entry_point)
    url = f"http://{spec['clusterIP']}:{number}/api/order"
    headers = {"Host": config.ingress.host, "Content-Type": "application/json"}
    deadline = time.monotonic() + 30
    response = post(url, ORDER, **headers)
    while response.status != 201 and time.monotonic() < deadline:
        time.sleep(1)
        response = post(url, ORDER, **headers)
    return response
