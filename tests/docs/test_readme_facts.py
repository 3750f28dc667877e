"""The README is the front door: the facts it states must be the code's."""

from __future__ import annotations

import re

from order_api import settings
from stack.config import TRAEFIK_LATENCY_BUCKETS
from tests.docs.documents import DOCS, README, ROOT, makefile_targets


def test_helm_latency_buckets_are_the_rehearsals() -> None:
    match = re.search(r"metrics\.prometheus\.buckets=([0-9.\\,]+)'", README)
    assert match, "README lost the helm --set for Traefik's latency buckets"
    buckets = tuple(float(b) for b in match[1].split("\\,"))
    assert buckets == TRAEFIK_LATENCY_BUCKETS


def test_every_make_target_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `make ([a-z-]+)` \|", README, re.MULTILINE))
    assert {"synth", "test", "test-fast"} <= documented
    assert documented == makefile_targets() - {"help", "setup", "clean"}


def test_service_environment_table_matches_the_settings() -> None:
    service_doc = (ROOT / "docs" / "service.md").read_text()
    documented = set(re.findall(r"^\| `(ORDER_API_[A-Z_]+)` \|", service_doc, re.MULTILINE))
    read = {value for name, value in vars(settings).items() if name.startswith("ENV_")}
    # The bench-only switch is documented with `make bench`, not as a setting.
    assert documented == read - {settings.ENV_BENCH_BARE}
    assert settings.ENV_BENCH_BARE in (ROOT / "docs" / "performance.md").read_text()


def test_the_readme_is_a_front_door() -> None:
    assert len(README.encode()) <= 12 * 1024
    assert "make test-fast" in README.split("make test ")[0], "test-fast comes first"
    assert DOCS, "the depth lives in docs/"
