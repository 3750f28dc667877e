"""The README is the front door: the facts it states must be the code's."""

from __future__ import annotations

import re
from pathlib import Path

from order_api import settings
from stack.config import TRAEFIK_LATENCY_BUCKETS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_helm_latency_buckets_are_the_rehearsals() -> None:
    match = re.search(r"metrics\.prometheus\.buckets=([0-9.\\,]+)'", README)
    assert match, "README lost the helm --set for Traefik's latency buckets"
    buckets = tuple(float(b) for b in match[1].split("\\,"))
    assert buckets == TRAEFIK_LATENCY_BUCKETS


def test_every_documented_make_target_exists() -> None:
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    documented = set(re.findall(r"^\| `make ([a-z]+)` \|", README, re.MULTILINE))
    assert {"synth", "test"} <= documented
    assert documented <= targets


def test_service_environment_table_matches_the_settings() -> None:
    documented = set(re.findall(r"^\| `(ORDER_API_[A-Z_]+)` \|", README, re.MULTILINE))
    read = {value for name, value in vars(settings).items() if name.startswith("ENV_")}
    # The bench-only switch is documented with `make bench`, not as a setting.
    assert documented == read - {settings.ENV_BENCH_BARE}
    assert settings.ENV_BENCH_BARE in README
