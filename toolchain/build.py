"""Build components into the cache: atomically, at most two Go builds at a time.

A build works in a temporary folder beside its final one and renames it into
place only once every binary exists, so an interrupted build leaves nothing
that looks built. A per-component lock lets concurrent callers (two terminals,
a test session) wait for one build instead of racing it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from toolchain.cache import cache_root, component_dir, is_built
from toolchain.components import BUILD_DATE, Component, local_sources
from toolchain.gotool import go_binary, go_env, release_time, run_go
from toolchain.toolchain_error import ToolchainError
from toolchain.wrapper import write_wrapper

# Two cores: more parallel Go builds only thrash.
MAX_JOBS = 2
_LOG_TAIL = 20

_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


@contextlib.contextmanager
def _locked(component: Component, say: Callable[[str], None]) -> Iterator[None]:
    locks = cache_root() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{component.key}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"toolchain: {component.label} waiting for another build")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _output_name(package: str) -> str:
    """The name `go build -o dir/` gives a main package (major-version suffix skipped)."""
    parts = package.split("/")
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        return parts[-2]
    return parts[-1]


def _ldflags(component: Component) -> str:
    # A local module has no publication time; its version is its source hash.
    date = "" if component.local else release_time(*component.primary)
    settings = [
        f"-X {var}={value.replace(BUILD_DATE, date)}"
        for var, value in component.version_vars.items()
    ]
    # -s -w: no symbol tables, which makes linking the big binaries much faster.
    return " ".join(["-s", "-w", *settings])


def _go_build(component: Component, src: Path, bin_dir: Path, log: Path) -> None:
    bin_dir.mkdir()
    args = [
        go_binary(),
        "build",
        "-trimpath",
        f"-ldflags={_ldflags(component)}",
        "-o",
        f"{bin_dir}/",
        *component.binaries.values(),
    ]
    with log.open("ab") as out:
        out.write(f"$ {' '.join(args)}\n".encode())
        out.flush()
        proc = subprocess.Popen(args, cwd=src, env=go_env(), stdout=out, stderr=subprocess.STDOUT)
        with _live_lock:
            _live.add(proc)
        try:
            code = proc.wait()
        finally:
            with _live_lock:
                _live.discard(proc)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-_LOG_TAIL:]
        raise ToolchainError(
            f"{component.label}: go build failed (exit {code}), log {log}:\n" + "\n".join(tail)
        )


def _rename_binaries(component: Component, bin_dir: Path) -> None:
    for name, package in component.binaries.items():
        built = bin_dir / _output_name(package)
        if built != bin_dir / name:
            built.rename(bin_dir / name)
        if not (bin_dir / name).is_file():
            raise ToolchainError(f"{component.name}: go build made no {name}")


def _copy_local(component: Component, src: Path) -> None:
    """A local module's sources, copied so the build never writes into the repository."""
    src.mkdir(parents=True)
    for path in local_sources(component.local or ""):
        shutil.copy2(path, src / path.name)


def _build_into(component: Component, tmp: Path, log: Path) -> None:
    src = tmp / "src"
    if component.local:
        _copy_local(component, src)
    else:
        write_wrapper(component, src)
    log.write_text(f"# {component.name} {component.version}\n{(src / 'go.mod').read_text()}\n")
    # A local module's go.sum is committed; tidy only the generated wrappers.
    if not component.local:
        run_go(["mod", "tidy"], cwd=src)
    _go_build(component, src, tmp / "bin", log)
    _rename_binaries(component, tmp / "bin")


def build_one(component: Component, say: Callable[[str], None]) -> float | None:
    """Build `component` unless cached; the seconds it took, or None when cached."""
    label = component.label
    with _locked(component, say):
        final = component_dir(component)
        if is_built(component):
            say(f"toolchain: {label} cached ({final})")
            return None
        root = cache_root()
        for stale in root.glob(f".tmp-{component.key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        logs = root / "logs"
        logs.mkdir(exist_ok=True)
        log = logs / f"{component.key}.log"
        say(f"toolchain: {label} building {', '.join(component.binaries)} (log {log})")
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{component.key}-", dir=root))
        try:
            _build_into(component, tmp, log)
            seconds = time.monotonic() - started
            record = {
                "component": component.name,
                "version": component.version,
                "key": component.key,
                "seconds": round(seconds, 1),
                "go": run_go(["env", "GOVERSION"]).strip(),
            }
            (tmp / "BUILD.json").write_text(json.dumps(record, indent=2) + "\n")
            # mkdtemp's 0700 would hide the binaries from pods run as other users.
            tmp.chmod(0o755)
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        say(f"toolchain: {label} built in {seconds:.0f} s ({final})")
        return seconds


def _stop_builds() -> None:
    with _live_lock:
        for proc in _live:
            proc.terminate()


def build(
    components: list[Component], jobs: int = MAX_JOBS, say: Callable[[str], None] = print
) -> dict[str, float | None]:
    """Build every component not cached yet, `jobs` at a time (at most MAX_JOBS)."""
    go_binary()  # fail once, clearly, before any thread starts
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs, MAX_JOBS)))
    futures = {}
    try:
        futures = {c.name: pool.submit(build_one, c, say) for c in components}
        return {name: future.result() for name, future in futures.items()}
    except BaseException:
        # Ctrl-C or a failed build: stop the other builds; their temp folders go too.
        for future in futures.values():
            future.cancel()
        _stop_builds()
        raise
    finally:
        pool.shutdown(wait=True)
