"""The profile's attribution of samples to stages."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from perf.order_profile import OTHER, STAGES, shares, stage_of
from tests.service.order_api_server import service_env
from tests.support.prerequisites import require_binary


@pytest.mark.parametrize(
    ("stack", "stage"),
    [
        ("Http.http1 (a.py:1);GuardedHttp.http1_request_header (p.py:2)", "head guard"),
        ("handle_request (x:1);GuardedRequest.receive_body (p.py:3)", "head guard"),
        ("handle_request (x:1);Request.receive_body (r.py:3)", "routing"),
        ("create_order (o.py:1);decode_order (o.py:2)", "body parsing"),
        ("handle_request (x:1);PreparedResponse.send (r.py:1);send (send:13)", "response headers"),
        (
            "handle_request (x:1);PreparedResponse.send (r.py:1);PreparedHead.wire (r.py:2)",
            "response building",
        ),
        ("instrumented (m.py:1);recorder.<locals>.record (m.py:2)", "metrics"),
        ("_run_once (asyncio:1)", OTHER),
    ],
)
def test_innermost_frame_with_a_stage_decides(stack: str, stage: str) -> None:
    assert stage_of(stack.split(";")).startswith(stage)


def test_shares_add_up_to_one_over_every_stage() -> None:
    collapsed = "a (x:1);check_head (p:1) 3\nb (x:1) 1\n"
    result = shares(collapsed)
    assert list(result) == [*STAGES, OTHER]
    assert sum(result.values()) == pytest.approx(1.0)
    assert result[OTHER] == pytest.approx(0.25)


@pytest.mark.live
def test_profile_runs_end_to_end() -> None:
    require_binary("wrk", "apt-get install wrk")
    completed = subprocess.run(
        [sys.executable, "-m", "perf.order_profile", "--duration=5"],
        env=service_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert re.match(r"\d+ req/s; server CPU [\d.]+ us per request", lines[0])
    charged = [float(line.split()[-2].rstrip("%")) for line in lines[2:]]
    assert len(charged) == len(STAGES) + 1 and sum(charged) == pytest.approx(100, abs=1)
    assert charged[0] > 0  # the head guard was sampled at all
