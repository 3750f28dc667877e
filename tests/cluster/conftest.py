"""One cluster for the live tests of this package: brought up once, always torn down.

The order the tests need is kept here, keyed on markers, not file names: those
marked `own_cluster` bring up clusters of their own, so they run before the
shared one exists; the one marked `kills_node` breaks the shared cluster, so it
runs after every other test that uses it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import lifecycle
from tests.cluster.traces import assert_no_trace
from tests.support.prerequisites import require_cluster_prerequisites

HERE = Path(__file__).resolve().parent
RANKS = {"own_cluster": 0, "kills_node": 2}
SHARED_RANK = 1


def _rank(item: pytest.Item) -> int:
    return next((r for m, r in RANKS.items() if item.get_closest_marker(m)), SHARED_RANK)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Reorder this folder's tests in place (their slots in the session stay theirs)."""
    slots = [i for i, item in enumerate(items) if item.path.is_relative_to(HERE)]
    for slot, item in zip(slots, sorted((items[i] for i in slots), key=_rank), strict=True):
        items[slot] = item


@pytest.fixture(scope="package")
def cluster() -> Iterator[float]:
    """The seconds `up` took; the cluster runs until this package's last test
    (which kills its node), and is down before the Flagger tier brings up its own."""
    require_cluster_prerequisites()
    started = time.monotonic()
    try:
        elapsed = lifecycle.up(say=lambda line: print(line, file=sys.stderr), timeout=300)
        yield elapsed
    finally:
        lifecycle.down(say=lambda line: None)
        print(
            f"cluster tier: {time.monotonic() - started:.1f} s with the cluster up", file=sys.stderr
        )
    assert_no_trace()
