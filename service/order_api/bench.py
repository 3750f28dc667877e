"""`make bench`: wrk against the instrumented order endpoint and a bare one.

Both endpoints run on the same Sanic stack in one real server process,
started with ORDER_API_BENCH_BARE=1; the bare one (order_api.bare) does
nothing, so it measures the framework's ceiling on this machine and the ratio
isolates what validation + instrumentation cost. Rounds alternate (ABBA) so
drift on a shared machine hits both sides equally.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from order_api import settings, telemetry
from order_api.bare import BARE_PATH

ORDER_BODY = '{"item": "book", "quantity": 2}'
TARGET_RATIO = 0.80
TARGET_P99_MS = 10.0
EXIT_MISSED = 1


@dataclass(frozen=True)
class SocketErrors:
    """wrk's "Socket errors" line; a refused reconnect shows up as a write error."""

    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0


@dataclass(frozen=True)
class Result:
    requests_per_s: float
    p99_ms: float
    non_2xx: int
    errors: SocketErrors
    requests: int = 0

    @property
    def socket_errors(self) -> int:
        e = self.errors
        return e.connect + e.read + e.write + e.timeout


_LUA = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def post_script(body: str = ORDER_BODY) -> str:
    """A wrk Lua script POSTing `body` as JSON."""
    return _LUA.format(body=body)


@contextlib.contextmanager
def wrk_scratch(prog: str) -> Iterator[Path]:
    """A scratch folder for one run, removed after it: yields its `post.lua` for wrk."""
    with tempfile.TemporaryDirectory(prefix=f"order-api-{prog}-") as tmp:
        script = Path(tmp, "post.lua")
        script.write_text(post_script())
        yield script


def parse_wrk(output: str) -> Result:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if not rps or not p99:
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    requests = re.search(r"^\s+(\d+) requests in ", output, re.M)
    return Result(
        requests_per_s=float(rps[1]),
        p99_ms=float(p99[1]) * _UNIT_MS[p99[2]],
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        errors=SocketErrors(*map(int, errors.groups())) if errors else SocketErrors(),
        requests=int(requests[1]) if requests else 0,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"order-api exited with {process.returncode} during start-up")
        try:
            with urllib.request.urlopen(base_url + telemetry.READY_PATH, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"order-api not ready after {timeout_s} s")


def run_wrk(
    wrk: str, url: str, script: Path, *, duration_s: int, connections: int, threads: int
) -> Result:
    command = [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration_s}s",
        "--latency",
        f"--script={script}",
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    return parse_wrk(completed.stdout)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m order_api.bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (%(default)s)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (%(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds (%(default)s)")
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help="concurrent keep-alive connections wrk holds open to each endpoint (%(default)s)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (%(default)s)")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit {EXIT_MISSED} when a target is missed (ratio >= {TARGET_RATIO}, "
        f"order p99 < {TARGET_P99_MS:g} ms); without it a miss is reported and exits 0",
    )
    args = parser.parse_args(argv)
    if args.rounds < 3:
        parser.error("--rounds must be >= 3")
    return args


def find_wrk(prog: str) -> str | None:
    """wrk's path, or None after saying how to install it."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print(
            f"{prog}: wrk not found on PATH; install it: sudo apt-get install wrk", file=sys.stderr
        )
    return wrk


@contextlib.contextmanager
def local_server(extra_env: dict[str, str], output: IO[bytes]) -> Iterator[tuple[str, int]]:
    """A ready order-api on a free loopback port, its output to `output`: (base URL, pid).

    Only `extra_env` of the ORDER_API_* variables reaches it, and it skips the
    shutdown delay, so a run measures this build's defaults and ends at once.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(settings.VARIABLE_PREFIX)}
    env |= {settings.ENV_SHUTDOWN_DELAY_S: "0", **extra_env}
    server = subprocess.Popen(
        [sys.executable, "-m", "order_api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(base_url, server)
        yield base_url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = find_wrk("bench")
    if wrk is None:
        return 1
    with wrk_scratch("bench") as script:
        log = script.parent / "server.log"
        try:
            with (
                log.open("wb") as log_file,
                local_server({settings.ENV_BENCH_BARE: "1"}, log_file) as (base_url, _),
            ):
                return _measure(wrk, base_url, script, args)
        except RuntimeError as error:
            print(f"bench: {error}", file=sys.stderr)
            print(log.read_text(errors="replace"), file=sys.stderr, end="")
            return 1


def _measure(wrk: str, base_url: str, script: Path, args: argparse.Namespace) -> int:
    urls = {"order": base_url + telemetry.ORDER_PATH, "bare": base_url + BARE_PATH}
    load = {"connections": args.connections, "threads": args.threads}
    print(
        f"wrk: {args.connections} connections, {args.threads} thread(s), "
        f"{args.rounds} rounds x {args.duration} s, warm-up {args.warmup} s each"
    )
    for url in urls.values():
        run_wrk(wrk, url, script, duration_s=args.warmup, **load)

    results: dict[str, list[Result]] = {"order": [], "bare": []}
    print(
        f"{'round':>5} {'order req/s':>12} {'order p99 ms':>13} "
        f"{'bare req/s':>11} {'bare p99 ms':>12} ratio"
    )
    for n in range(args.rounds):
        # ABBA: alternate which side runs first.
        for name in ("order", "bare") if n % 2 == 0 else ("bare", "order"):
            results[name].append(run_wrk(wrk, urls[name], script, duration_s=args.duration, **load))
        order, bare = results["order"][-1], results["bare"][-1]
        print(
            f"{n + 1:>5} {order.requests_per_s:>12.0f} {order.p99_ms:>13.2f} "
            f"{bare.requests_per_s:>11.0f} {bare.p99_ms:>12.2f} "
            f"{order.requests_per_s / bare.requests_per_s:.3f}"
        )

    pairs = zip(results["order"], results["bare"], strict=True)
    ratio = statistics.median(o.requests_per_s / b.requests_per_s for o, b in pairs)
    p99_order = statistics.median(r.p99_ms for r in results["order"])
    p99_bare = statistics.median(r.p99_ms for r in results["bare"])
    print(f"median ratio (order / bare): {ratio:.3f}  (target >= {TARGET_RATIO})")
    print(
        f"median p99: order {p99_order:.2f} ms, bare {p99_bare:.2f} ms "
        f"(target < {TARGET_P99_MS} ms)"
    )
    failures = sum(r.non_2xx + r.socket_errors for rs in results.values() for r in rs)
    if failures:
        print(f"bench: {failures} non-2xx responses or socket errors", file=sys.stderr)
        return 1
    met = targets_met(ratio, p99_order)
    print("targets met" if met else "targets MISSED (machine-dependent; see README)")
    return exit_status(met, check=args.check)


def targets_met(ratio: float, p99_order_ms: float) -> bool:
    return ratio >= TARGET_RATIO and p99_order_ms < TARGET_P99_MS


def exit_status(met: bool, *, check: bool) -> int:
    """0 after a plain run whatever the figures; with --check, EXIT_MISSED on a miss."""
    return EXIT_MISSED if check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
