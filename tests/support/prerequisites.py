"""What a test needs from the machine: skipped on a user's machine, failed under CI=true."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

import toolchain
from toolchain.cache import BY_BINARY

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def require_binary(name: str, install_hint: str) -> str:
    """Return the path of `name`; skip without it, but fail under CI=true.

    A toolchain binary comes only from the toolchain (never a system copy of
    another version); `install_hint` is for the others."""
    if name in BY_BINARY:
        try:
            return str(toolchain.bin_path(name))
        except toolchain.ToolchainError as error:
            missing(str(error))
    path = shutil.which(name)
    if path:
        return path
    missing(f"{name} not found on PATH ({install_hint})")


def require_cluster_prerequisites() -> None:
    """Root, the network tools, the CNI plugins and the toolchain's cluster programs."""
    problems = []
    if os.geteuid() != 0:
        problems.append("root")
    for tool in ("ip", "iptables", "ipset", "openssl", "go"):
        if shutil.which(tool) is None:
            problems.append(tool)
    if not os.path.exists("/usr/lib/cni/bridge"):
        problems.append("containernetworking-plugins")
    for name in ("kube-apiserver", "etcd", "flagger", "loadtester", "coredns", "prometheus"):
        try:
            toolchain.bin_path(name)
        except toolchain.ToolchainError:
            problems.append(f"{name} (make toolchain)")
    if problems:
        missing("the local cluster needs: " + ", ".join(problems))
