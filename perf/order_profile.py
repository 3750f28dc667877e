"""`python -m perf.order_profile`: where the order path's microseconds go, under load.

Serves order-api, drives POST /api/order with wrk, samples the server with
py-spy (a sampling profiler, dev extra) and measures its CPU time per request
(/proc/<pid>/schedstat). Each sample is charged to the stage of its innermost
frame that belongs to one; a stage's share of the samples times the CPU time
per request is its cost per request.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from order_api import telemetry
from perf.bench import cpu_ns, find_wrk, local_server, parse_wrk, run_wrk, wrk_scratch

# Stage -> frame-name fragments; the first stage with a fragment in the innermost
# matching frame wins, so order matters where fragments could overlap.
STAGES: dict[str, tuple[str, ...]] = {
    "head guard and body slice (order-api)": (
        "GuardedHttp.",
        "GuardedRequest.",
        "check_head",
        "_receive_head",
    ),
    "metrics and version header": (
        "Instrumentation.",
        "recorder.",
        "TimedRequest.",
        "Counter.",
        "Histogram.",
        "MutexValue.",
    ),
    "body parsing and validation": (
        "parse_json",
        "_decode",
        "_unique_keys",
        "validate",
        "is_json",
        "decode_order",
        "read_order",
        "_has_lone_surrogate",
    ),
    "fault checks": ("should_fail",),
    "response building (order-api)": (
        "create_order",
        "order_ids",
        "json_string",
        "_UtcClock.",
        "PreparedHead.",
        "PreparedResponse.",
    ),
    "request head parsing (Sanic)": ("http1_request_header", "Request.__init__", "Header."),
    "response headers and send (Sanic)": (
        "http1_response_header",
        "processed_headers",
        "format_http1_response",
        "_sanitize_header_value",
        "BaseHTTPResponse.",
        "HTTPResponse.",
        "send",
    ),
    "routing, body read, dispatch (Sanic)": (
        "handle_request",
        "receive_body",
        "Http.",
        "read",
        "respond",
        "Router",
        "get",
    ),
}
OTHER = "event loop and the rest"


def stage_of(frames: list[str]) -> str:
    """The stage of one sampled stack (frames root first)."""
    for frame in reversed(frames):
        name = frame.split(" (", 1)[0]
        for stage, fragments in STAGES.items():
            if any(fragment in name for fragment in fragments):
                return stage
    return OTHER


def shares(collapsed: str) -> dict[str, float]:
    """Fraction of the samples per stage, from py-spy's raw (collapsed) output."""
    counts: collections.Counter[str] = collections.Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        # A line cut short when py-spy stops mid-write carries no count.
        if stack and count.isdigit():
            counts[stage_of(stack.split(";"))] += int(count)
    total = sum(counts.values()) or 1
    return {stage: counts[stage] / total for stage in [*STAGES, OTHER]}


def _py_spy() -> str | None:
    """py-spy from PATH or beside this interpreter (the venv's bin/)."""
    beside = Path(sys.executable).with_name("py-spy")
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m perf.order_profile", description=__doc__)
    parser.add_argument("--duration", type=int, default=20, help="seconds sampled (%(default)s)")
    parser.add_argument("--connections", type=int, default=32, help="(%(default)s)")
    parser.add_argument("--rate", type=int, default=500, help="samples per s (%(default)s)")
    args = parser.parse_args(argv)
    if not 5 <= args.duration <= 120:
        parser.error("--duration must be 5..120 s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk, py_spy = find_wrk("order_profile"), _py_spy()
    if py_spy is None:
        print("order_profile: py-spy not found; pip install py-spy", file=sys.stderr)
    if wrk is None or py_spy is None:
        return 1
    with (
        wrk_scratch("profile") as script,
        open(os.devnull, "wb") as quiet,
        local_server({}, quiet) as (base_url, pid),
    ):
        url = base_url + telemetry.ORDER_PATH
        load = {"connections": args.connections, "threads": 1}
        run_wrk(wrk, url, script, duration_s=2, **load)  # warm-up
        samples = script.parent / "samples.txt"
        outcome: dict[str, str] = {}

        def drive() -> None:
            command = [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration + 2}s", "--latency"]
            outcome["wrk"] = subprocess.run(
                [*command, f"--script={script}", url], capture_output=True, text=True, check=False
            ).stdout

        before = cpu_ns(pid)
        load_thread = threading.Thread(target=drive)
        load_thread.start()
        subprocess.run(
            [
                py_spy,
                "record",
                f"--pid={pid}",
                f"--duration={args.duration}",
                f"--rate={args.rate}",
                "--format=raw",
                f"--output={samples}",
                "--nonblocking",
            ],
            capture_output=True,
            check=True,
        )
        load_thread.join()
        cpu_us = (cpu_ns(pid) - before) / 1000
        result = parse_wrk(outcome["wrk"])
        _print(shares(samples.read_text()), cpu_us / max(result.requests, 1), result.requests_per_s)
    return 0


def _print(stage_shares: dict[str, float], per_request_us: float, rps: float) -> None:
    print(f"{rps:.0f} req/s; server CPU {per_request_us:.1f} us per request (py-spy on)")
    print(f"{'stage':<40} {'share':>6} {'us/request':>10}")
    for stage, share in stage_shares.items():
        print(f"{stage:<40} {share:>6.1%} {share * per_request_us:>10.1f}")


if __name__ == "__main__":
    sys.exit(main())
