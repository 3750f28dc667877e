"""`python -m perf.soak`: a bounded wrk soak of one order-api process.

Drives POST /api/order for --duration seconds at --connections, samples the
server's resident memory while it runs, and compares wrk's count with the
server's own counters (a request wrk gave up on at the end may be counted by
the server only, so they may differ by at most the connections in flight).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from order_api import telemetry
from perf.bench import find_wrk, local_server, parse_wrk, run_wrk, wrk_scratch

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib(pid: int) -> float:
    """Resident memory of `pid` (Linux /proc)."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * _PAGE / 2**20


def counters(base_url: str) -> dict[tuple[str, str, str], float]:
    """http_requests_total by (method, path, status), scraped once."""
    with urllib.request.urlopen(base_url + telemetry.METRICS_PATH, timeout=5) as response:
        text = response.read().decode()
    pattern = re.compile(
        rf'^{telemetry.REQUESTS_TOTAL}{{method="([^"]*)",path="([^"]*)",status="([^"]*)"}} (\S+)$',
        re.M,
    )
    return {(m[1], m[2], m[3]): float(m[4]) for m in pattern.finditer(text)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m perf.soak", description=__doc__)
    parser.add_argument("--duration", type=int, default=90, help="seconds of load (%(default)s)")
    parser.add_argument("--connections", type=int, default=64, help="(%(default)s)")
    parser.add_argument("--sample", type=int, default=10, help="RSS every N s (%(default)s)")
    args = parser.parse_args(argv)
    if not 5 <= args.duration <= 600:
        parser.error("--duration must be 5..600 s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = find_wrk("soak")
    if wrk is None:
        return 1
    with (
        wrk_scratch("soak") as script,
        open(os.devnull, "wb") as quiet,
        local_server({}, quiet) as (base_url, pid),
    ):
        return _soak(wrk, base_url, script, pid, args)


def _soak(wrk: str, base_url: str, script: Path, pid: int, args: argparse.Namespace) -> int:
    url = base_url + telemetry.ORDER_PATH
    run_wrk(wrk, url, script, duration_s=5, connections=args.connections, threads=1)  # warm-up
    rss_before, before = rss_mib(pid), counters(base_url)
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(args.sample):
            samples.append(rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    command = [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    output = subprocess.run(
        [*command, f"--script={script}", url], capture_output=True, text=True, check=False
    ).stdout
    stop.set()
    sampler.join()
    result = parse_wrk(output)
    time.sleep(0.5)  # let the server finish the requests wrk abandoned
    rss_after, after = rss_mib(pid), counters(base_url)
    delta = {key: after[key] - before.get(key, 0.0) for key in after}
    delta = {
        key: value for key, value in delta.items() if value and key[1] != telemetry.METRICS_PATH
    }
    served = delta.get(("POST", telemetry.ORDER_PATH, "201"), 0.0)

    print(f"wrk: {args.connections} connections, {args.duration} s: {result.requests} responses")
    print(f"  {result.requests_per_s:.0f} req/s, p99 {result.p99_ms:.2f} ms")
    e = result.errors
    print(
        f"  non-2xx {result.non_2xx}, socket errors: connect {e.connect}, read {e.read}, "
        f"write {e.write}, timeout {e.timeout}"
    )
    print("server counters (delta over the soak):")
    for (method, path, status), value in sorted(delta.items()):
        print(f"  {method} {path} {status}: {value:.0f}")
    print(f"  counted 201 - wrk responses: {served - result.requests:.0f}")
    trail = ", ".join(f"{value:.1f}" for value in samples)
    print(f"RSS MiB: before {rss_before:.1f}, during [{trail}], after {rss_after:.1f}")
    exact = 0 <= served - result.requests <= args.connections
    ok = exact and result.non_2xx == 0 and result.socket_errors == 0
    print("soak ok" if ok else "soak FAILED: errors, or counters off by more than in flight")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
