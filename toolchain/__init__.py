"""The pinned upstream toolchain (Kubernetes, etcd, Flagger, CoreDNS, Prometheus, hey)
and the local cluster's node (its kubelet, a Go module of this repository).

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
