"""The pinned toolchain: Kubernetes, etcd, Flagger, CoreDNS, Prometheus, Alertmanager, hey,
and the local modules grafana-check (dashboard schema) and operator-config
(prometheus-operator's scrape-config generator).

Built from the Go module proxy into a cache outside the repository
(`make toolchain`), one folder per pinned version. Other packages import this
one; it imports none of theirs.

    bin_path("kube-apiserver") -> Path   # ToolchainError naming the fix if missing
    bin_dirs() -> list[Path]             # to prepend to PATH
"""

from __future__ import annotations

from toolchain.cache import bin_dirs, bin_path, cache_root
from toolchain.toolchain_error import ToolchainError

__all__ = ["ToolchainError", "bin_dirs", "bin_path", "cache_root"]
