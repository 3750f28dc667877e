"""Child processes of the rehearsal: started in a group, never outliving it.

Every process is started inside a `ProcessGroup`, which stops all of them (and
nothing else) however the block is left. On Linux each child also asks the
kernel for SIGKILL when the rehearsal dies (PR_SET_PDEATHSIG), so a SIGKILLed
or crashed rehearsal leaves nothing running. The kernel sends that signal when
the THREAD that started the child ends: start processes from the main thread.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rehearsal.failures import ComponentError
from rehearsal.measure.http_probe import http_get
from rehearsal.measure.loopback import free_port

# A port found free can be taken before the child binds it: retry that often.
PORT_ATTEMPTS = 4
_ADDRESS_IN_USE = re.compile(r"address already in use|errno 98|eaddrinuse", re.IGNORECASE)
_PR_SET_PDEATHSIG = 1

T = TypeVar("T")


class PortTaken(ComponentError):
    """A child could not bind its port: another process took it first."""


def bind_retrying(serve: Callable[[int], T], *, attempts: int = PORT_ATTEMPTS) -> tuple[int, T]:
    """`serve(port)` on a free port, again on another one when the port was taken."""
    for attempt in range(attempts):
        port = free_port()
        try:
            return port, serve(port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def with_free_ports(count: int, start: Callable[[list[int]], T], component: str) -> T:
    """`start(ports)` with `count` free ports, retried when a child lost a port race."""
    for _ in range(PORT_ATTEMPTS):
        try:
            return start([free_port() for _ in range(count)])
        except PortTaken:
            continue
    raise ComponentError(f"{component}: its ports were taken {PORT_ATTEMPTS} times in a row")


def find_binary(name: str, install_hint: str) -> str:
    """Path of `name` from PATH or this interpreter's bin dir, or a clear error."""
    here = Path(sys.executable).parent / name
    path = shutil.which(name) or (str(here) if here.exists() else None)
    if path is None:
        raise ComponentError(f"{name} not found: {install_hint}")
    return path


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # Looked up once in the parent: the child must not dlopen between fork and exec.
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A preexec_fn: SIGKILL this child when the rehearsal dies."""
    prctl = _PRCTL
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


@dataclass
class Process:
    """One started process and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def lost_port_race(self) -> bool:
        return not self.alive() and bool(_ADDRESS_IN_USE.search(self.log_tail(50)))

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return int(self.popen.returncode)


@dataclass
class ProcessGroup:
    """Starts processes with logs in `log_dir`; stops them all on exit."""

    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    def start(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> Process:
        log_path = self.log_dir / f"{name}.log"
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = log_path.open("wb")
        except OSError as exc:
            raise ComponentError(f"{name}: cannot create its log {log_path}: {exc}") from None
        with log:
            try:
                popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **(env or {})},
                    # Own session: a Ctrl-C in the terminal reaches only us,
                    # and we stop the children in order.
                    start_new_session=True,
                    preexec_fn=_die_with_parent(os.getpid()),
                )
            except OSError as exc:
                raise ComponentError(f"{name}: cannot start {argv[0]}: {exc}") from None
        process = Process(name=name, popen=popen, log_path=log_path)
        self.processes.append(process)
        return process

    def discard(self, process: Process) -> None:
        """Forget a process that died on its own (a lost port race)."""
        process.stop(timeout=1.0)
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout=5.0)
        self.processes.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def write_file(path: Path, text: str, component: str) -> None:
    """Write a config file, or a ComponentError naming the component and the path."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise ComponentError(f"{component}: cannot write {path}: {exc.strerror or exc}") from None


def wait_http(url: str, process: Process, *, timeout: float = 20.0, expect: int = 200) -> None:
    """Poll `url` until it answers `expect`; fail early if the process died.

    A process that died because its port was taken raises PortTaken, so the
    caller can start it again on another port.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            if process.lost_port_race():
                raise PortTaken(f"{process.name}: port taken before it could bind ({url})")
            raise ComponentError(
                f"{process.name} exited with {process.popen.returncode} before answering "
                f"{url}:\n{process.log_tail()}"
            )
        try:
            if http_get(url, timeout=1.0)[0] == expect:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ComponentError(f"{process.name} did not answer {expect} at {url} in {timeout:.0f}s")
