"""Reach the cluster from inside a pod: its own network namespace, its own IP.

A pod's network namespace is found by its IP (whatever process holds it: the
node's sandbox, a container), so a connection made here leaves from the pod's
address and meets the NetworkPolicies exactly as the pod's own traffic would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from cluster import netns

# Runs inside the pod's namespace: one TCP connection, bounded by a timeout.
_CONNECT = r"""
import errno, json, socket, sys, time
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(); s.settimeout(timeout)
t = time.monotonic()
try:
    s.connect((host, port)); result = "connected"
except socket.timeout:
    result = "timeout"
except OSError as e:
    result = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps({"result": result, "seconds": time.monotonic() - t}))
"""

# Runs inside the pod's namespace: one HTTP request, its status (0: no answer).
_HTTP = r"""
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers={"Host": sys.argv[2]} if sys.argv[2] else {})
try:
    with urllib.request.urlopen(req, timeout=5) as r: print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
"""

# Runs inside the pod's namespace: a DNS A query over UDP, (rcode, answers).
_DNS = r"""
import socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
q = struct.pack(">HHHHHH", 0x4e50, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
s.sendto(q, (server, 53))
try:
    data = s.recv(4096); print(data[3] & 0x0F, struct.unpack(">H", data[6:8])[0])
except socket.timeout:
    print(-1, 0)
"""


@dataclass(frozen=True)
class Connect:
    result: str  # "connected", "ECONNREFUSED", "timeout", ...
    seconds: float


def _local_addresses(pid: int) -> set[str]:
    """The IPv4 addresses local to a process's network namespace (fib_trie's LOCAL)."""
    try:
        with open(f"/proc/{pid}/net/fib_trie") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    return {
        lines[i].split("|--")[1].strip()
        for i in range(len(lines) - 1)
        if "|--" in lines[i] and "/32 host LOCAL" in lines[i + 1]
    }


def holder(pod_ip: str) -> int:
    """A pid in the network namespace that owns `pod_ip`."""
    seen: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            inode = os.stat(f"/proc/{entry}/ns/net").st_ino
        except OSError:
            continue
        if inode in seen:
            continue
        seen.add(inode)
        if pod_ip in _local_addresses(int(entry)):
            return int(entry)
    raise LookupError(f"no network namespace holds {pod_ip}")


def _run(pod_ip: str, script: str, *args: str) -> str:
    argv = ["nsenter", f"--net=/proc/{holder(pod_ip)}/ns/net", sys.executable, "-c", script]
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, timeout=30, check=True
    ).stdout


def connect(from_ip: str, host: str, port: int, timeout: float = 3) -> Connect:
    out = json.loads(_run(from_ip, _CONNECT, host, str(port), str(timeout)))
    return Connect(out["result"], out["seconds"])


def connect_from_node(host: str, port: int, timeout: float = 3) -> Connect:
    """The same connection from the cluster's namespace itself (the node)."""
    argv = netns.inside([sys.executable, "-c", _CONNECT, host, str(port), str(timeout)])
    out = json.loads(subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout)
    return Connect(out["result"], out["seconds"])


def http_status(from_ip: str, url: str, host: str = "") -> int:
    return int(_run(from_ip, _HTTP, url, host).strip())


def dns(from_ip: str, name: str, server: str) -> tuple[int, int]:
    rcode, answers = _run(from_ip, _DNS, name, server).split()
    return int(rcode), int(answers)
