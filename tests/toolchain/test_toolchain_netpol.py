"""kube-router-netpol: kube-router's network-policy controller alone, at the pin.

The binary must link the policy controller and none of kube-router's other
controllers: its service proxy is where GHSA-phqm-jgc3-qf8g is reported
against v2.1.0, and firewall-only mode must not be able to run it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cluster import netpol
from tests.support.prerequisites import require_binary
from toolchain import versions
from toolchain.components import BY_NAME, KUBE_ROUTER_NETPOL, source_hash
from toolchain.gotool import go_binary

pytestmark = pytest.mark.live

MODULE = "github.com/cloudnativelabs/kube-router/v2"


def _output(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_it_reports_its_sources_and_the_pin() -> None:
    out = _output(require_binary(netpol.PROGRAM, "make toolchain"), "--version").strip()
    version = source_hash(KUBE_ROUTER_NETPOL)
    assert out == f"{netpol.PROGRAM} {version} (kube-router {versions.KUBE_ROUTER})"
    assert BY_NAME[netpol.PROGRAM].local == KUBE_ROUTER_NETPOL


def test_it_links_the_pinned_module() -> None:
    info = _output(go_binary(), "version", "-m", require_binary(netpol.PROGRAM, "make toolchain"))
    deps = {f[1]: f[2] for f in (line.split() for line in info.splitlines()) if f[:1] == ["dep"]}
    assert deps[MODULE] == versions.KUBE_ROUTER, info
    # No routing (GoBGP) and no service proxy (IPVS, Docker's client) come along.
    assert not {
        "github.com/osrg/gobgp/v3",
        "github.com/moby/ipvs",
        "github.com/docker/docker",
    } & set(deps)


def test_only_the_policy_controller_is_linked() -> None:
    # Function names stay in the binary's pclntab (-s -w strip only the symbol table).
    binary = Path(require_binary(netpol.PROGRAM, "make toolchain")).read_bytes()
    controllers = f"{MODULE}/pkg/controllers/".encode()
    assert controllers + b"netpol." in binary
    for other in (b"proxy.", b"routing.", b"lballoc."):
        assert controllers + other not in binary, other


def test_without_its_flags_it_names_the_missing_one() -> None:
    binary = require_binary(netpol.PROGRAM, "make toolchain")
    result = subprocess.run([binary], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and " is required" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "goroutine" not in result.stderr
