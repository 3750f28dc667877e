"""Threads that live in the local cluster's network namespace.

A network namespace belongs to a thread, not a process (setns(2) with
CLONE_NEWNET switches only the calling thread), and a socket stays in the
namespace it was created in. So the rehearsal's measuring client and its
Prometheus queries run in threads that entered the cluster's namespace first:
they reach ClusterIPs and pod IPs, which exist nowhere else, while the rest
of the process (and every other address) stays on the host's network.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")

T = TypeVar("T")


class NetnsError(OSError):
    """The namespace is missing or this process may not enter it."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def enter(name: str) -> None:
    """Move the calling thread into the network namespace `name`."""
    path = NETNS_DIR / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetnsError(f"network namespace {name}: {exc.strerror or exc}") from None
    try:
        if _libc().setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise NetnsError(f"setns into {name}: {os.strerror(errno)} (needs root)")
    finally:
        os.close(fd)


class NetnsExecutor:
    """Run callables in worker threads inside one network namespace."""

    def __init__(self, name: str, *, workers: int = 2) -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"netns-{name}", initializer=enter,
            initargs=(name,),
        )  # fmt: skip

    def run(self, fn: Callable[..., T], *args: object, wait_s: float = 30.0, **kwargs: object) -> T:
        """fn(*args, **kwargs) in a thread of the namespace; its result or its exception."""
        return self._pool.submit(fn, *args, **kwargs).result(timeout=wait_s)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> NetnsExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
