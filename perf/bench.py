"""`make bench`: wrk against three servers, to show what each layer costs.

- plain: a plain Sanic app (perf.plain_sanic), the framework's ceiling here;
- guard: order-api's bare endpoint (order_api.bare), which does nothing but
  runs behind the head guard and the connection protocol;
- order: order-api's instrumented order endpoint, as deployed.

guard / plain is what the guard costs, order / plain what the whole order
path costs. Rounds rotate the order of the three (ABC, CBA, ...) so that drift
on a shared machine hits each side alike; only ratios within one run compare.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from order_api import settings, telemetry
from order_api.bare import BARE_PATH
from rehearsal.measure.loopback import free_port

ORDER_BODY = '{"item": "book", "quantity": 2}'
EXIT_MISSED = 1
# The three servers, in the order of the first round.
SIDES = ("plain", "guard", "order")


@dataclasses.dataclass(frozen=True)
class Targets:
    """What `--check` holds the medians of one run to (issue 26), in one place."""

    order_ratio: float = 0.85  # order / plain req/s, at least
    guard_ratio: float = 0.95  # guard / plain req/s, at least: the guard costs <= 5 %
    p99_factor: float = 1.5  # order p99 / plain p99, at most


TARGETS = Targets()


@dataclasses.dataclass(frozen=True)
class SocketErrors:
    """wrk's "Socket errors" line; a refused reconnect shows up as a write error."""

    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0


@dataclasses.dataclass(frozen=True)
class Result:
    requests_per_s: float
    p99_ms: float
    non_2xx: int
    errors: SocketErrors
    requests: int = 0
    # The server's CPU time per answered request: unlike req/s, this barely
    # moves when other processes compete for the cores.
    cpu_us: float = 0.0

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


def wait_ready(
    probe: urllib.request.Request, process: subprocess.Popen[bytes], timeout_s: float = 15
) -> None:
    """Return once `probe` answers 2xx; raise if the server exits or times out first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} during start-up")
        try:
            with urllib.request.urlopen(probe, timeout=1) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout_s} s ({probe.full_url})")


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


def cpu_ns(pid: int) -> int:
    """CPU time `pid` has run, in nanoseconds (Linux /proc/<pid>/schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def measured_run(wrk: str, server: tuple[str, int], script: Path, **load: int) -> Result:
    """run_wrk against `server` (URL, pid), with the server's CPU time per request."""
    url, pid = server
    before = cpu_ns(pid)
    result = run_wrk(wrk, url, script, **load)
    spent_us = (cpu_ns(pid) - before) / 1000
    return dataclasses.replace(result, cpu_us=spent_us / max(result.requests, 1))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m perf.bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (%(default)s)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (%(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds (%(default)s)")
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help="concurrent keep-alive connections wrk holds open to each server (%(default)s)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (%(default)s)")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit {EXIT_MISSED} when a target is missed (order / plain >= "
        f"{TARGETS.order_ratio}, guard / plain >= {TARGETS.guard_ratio}, order p99 <= "
        f"{TARGETS.p99_factor:g} x plain p99); without it a miss is reported and exits 0",
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
def serve(
    command: list[str], env: dict[str, str], probe: urllib.request.Request, output: IO[bytes]
) -> Iterator[int]:
    """`command` running until the block ends, ready by `probe`; yields its pid."""
    server = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_ready(probe, server)
        yield server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


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
    command = [sys.executable, "-m", "order_api", "--host", "127.0.0.1", "--port", str(port)]
    probe = urllib.request.Request(base_url + telemetry.READY_PATH)
    with serve(command, env, probe, output) as pid:
        yield base_url, pid


@contextlib.contextmanager
def plain_server(output: IO[bytes]) -> Iterator[tuple[str, int]]:
    """The plain Sanic app (perf.plain_sanic) on a free loopback port: (order URL, pid)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{telemetry.ORDER_PATH}"
    command = [sys.executable, "-m", "perf.plain_sanic", "--port", str(port)]
    probe = urllib.request.Request(url, data=ORDER_BODY.encode(), method="POST")
    with serve(command, dict(os.environ), probe, output) as pid:
        yield url, pid


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = find_wrk("bench")
    if wrk is None:
        return 1
    with wrk_scratch("bench") as script:
        log = script.parent / "servers.log"
        try:
            with (
                log.open("wb") as log_file,
                plain_server(log_file) as plain,
                local_server({settings.ENV_BENCH_BARE: "1"}, log_file) as (guard_base, guard_pid),
                local_server({}, log_file) as (order_base, order_pid),
            ):
                servers = {
                    "plain": plain,
                    "guard": (guard_base + BARE_PATH, guard_pid),
                    "order": (order_base + telemetry.ORDER_PATH, order_pid),
                }
                return _measure(wrk, servers, script, args)
        except RuntimeError as error:
            print(f"bench: {error}", file=sys.stderr)
            print(log.read_text(errors="replace"), file=sys.stderr, end="")
            return 1


@dataclasses.dataclass(frozen=True)
class Summary:
    """The medians of one run: ratios are per round, then the median of the rounds."""

    order_ratio: float
    guard_ratio: float
    p99_ms: dict[str, float]

    @property
    def p99_factor(self) -> float:
        return self.p99_ms["order"] / self.p99_ms["plain"]


def summarize(results: dict[str, list[Result]]) -> Summary:
    rounds = list(zip(results["plain"], results["guard"], results["order"], strict=True))
    return Summary(
        order_ratio=statistics.median(o.requests_per_s / p.requests_per_s for p, _, o in rounds),
        guard_ratio=statistics.median(g.requests_per_s / p.requests_per_s for p, g, _ in rounds),
        p99_ms={side: statistics.median(r.p99_ms for r in results[side]) for side in SIDES},
    )


def misses(summary: Summary, targets: Targets = TARGETS) -> list[str]:
    """Each missed target, said in a line; [] when all are met."""
    missed = []
    if summary.order_ratio < targets.order_ratio:
        missed.append(f"order / plain {summary.order_ratio:.3f} < {targets.order_ratio}")
    if summary.guard_ratio < targets.guard_ratio:
        missed.append(f"guard / plain {summary.guard_ratio:.3f} < {targets.guard_ratio}")
    if summary.p99_factor > targets.p99_factor:
        missed.append(f"order p99 {summary.p99_factor:.2f} x plain's > {targets.p99_factor:g} x")
    return missed


def _row(cells: list[str]) -> str:
    """One table line: the round, then req/s, p99 and CPU per request of each side, then ratios."""
    first, *per_side, guard, order = cells
    sides = [" ".join(f"{c:>7}" for c in per_side[i : i + 3]) for i in range(0, len(per_side), 3)]
    return f"{first:>5} | " + " | ".join(sides) + f" | {guard:>11} {order:>11}"


def _measure(
    wrk: str, servers: dict[str, tuple[str, int]], script: Path, args: argparse.Namespace
) -> int:
    load = {"connections": args.connections, "threads": args.threads}
    print(
        f"wrk: {args.connections} connections, {args.threads} thread(s), "
        f"{args.rounds} rounds x {args.duration} s per server, warm-up {args.warmup} s each"
    )
    for url, _ in servers.values():
        run_wrk(wrk, url, script, duration_s=args.warmup, **load)

    results: dict[str, list[Result]] = {side: [] for side in SIDES}
    print(" " * 8 + " | ".join(f"{side:^23}" for side in SIDES) + " | ratios (req/s)")
    print(
        _row(["round", *["req/s", "p99 ms", "cpu us"] * len(SIDES), "guard/plain", "order/plain"])
    )
    for n in range(args.rounds):
        for side in SIDES if n % 2 == 0 else tuple(reversed(SIDES)):
            result = measured_run(wrk, servers[side], script, duration_s=args.duration, **load)
            results[side].append(result)
        last = {side: results[side][-1] for side in SIDES}
        cells = [str(n + 1)]
        for r in last.values():
            cells += [f"{r.requests_per_s:.0f}", f"{r.p99_ms:.2f}", f"{r.cpu_us:.1f}"]
        plain_rps = last["plain"].requests_per_s
        for side in ("guard", "order"):
            cells.append(f"{last[side].requests_per_s / plain_rps:.3f}")
        print(_row(cells))
    return _report(results, check=args.check)


def _median(results: dict[str, list[Result]], field: str) -> dict[str, float]:
    return {side: statistics.median(getattr(r, field) for r in results[side]) for side in SIDES}


def _report(results: dict[str, list[Result]], *, check: bool) -> int:
    summary = summarize(results)
    rps, cpu = _median(results, "requests_per_s"), _median(results, "cpu_us")
    print("median req/s: " + ", ".join(f"{side} {rps[side]:.0f}" for side in SIDES))
    print(
        "median server CPU per request: "
        + ", ".join(f"{side} {cpu[side]:.1f} us" for side in SIDES)
        + f"; plain / order {cpu['plain'] / cpu['order']:.3f}"
        + f", plain / guard {cpu['plain'] / cpu['guard']:.3f}"
    )
    print(
        f"median guard cost (guard / plain): {summary.guard_ratio:.3f}  "
        f"(target >= {TARGETS.guard_ratio})"
    )
    print(
        f"median order cost (order / plain): {summary.order_ratio:.3f}  "
        f"(target >= {TARGETS.order_ratio})"
    )
    print(
        "median p99: "
        + ", ".join(f"{side} {summary.p99_ms[side]:.2f} ms" for side in SIDES)
        + f"; order / plain {summary.p99_factor:.2f} (target <= {TARGETS.p99_factor:g})"
    )
    failures = sum(r.non_2xx + r.socket_errors for rs in results.values() for r in rs)
    if failures:
        print(f"bench: {failures} non-2xx responses or socket errors", file=sys.stderr)
        return 1
    missed = misses(summary)
    for line in missed:
        print(f"target MISSED: {line}")
    if not missed:
        print("targets met")
    return exit_status(not missed, check=check)


def exit_status(met: bool, *, check: bool) -> int:
    """0 after a plain run whatever the figures; with --check, EXIT_MISSED on a miss."""
    return EXIT_MISSED if check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
