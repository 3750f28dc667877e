"""Session plumbing: the project-local Node and the pinned toolchain on PATH, the
cluster tier's marker, figures printed at the end. Helpers live in tests/support/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import toolchain

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Before any test module loads cdk8s: jsii must run on the pinned Node 22 from
    node_modules, not the system Node; the toolchain's binaries (Prometheus 3.7.3,
    ...) win over any system copy."""
    os.environ["PATH"] = os.pathsep.join(
        [
            *(str(d) for d in toolchain.bin_dirs()),
            str(ROOT / "node_modules" / ".bin"),
            str(ROOT / ".venv" / "bin"),
            os.environ["PATH"],
        ]
    )


# The tiers that need the local cluster (root, network namespaces, the toolchain):
# marked `cluster`, so `make test-cluster` runs only them (`make test` runs all).
CLUSTER_TIER = (
    "tests/cluster/",
    "tests/rehearsal/test_rehearsal_flagger_engine.py",
    "tests/rehearsal/test_rehearsal_netns_live.py",
)
# Files of those folders that start nothing (named *units.py).


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.relative_to(ROOT).as_posix()
        if path.startswith(CLUSTER_TIER) and not path.endswith("units.py"):
            item.add_marker(pytest.mark.cluster)


# Figures a passing test would otherwise keep in its captured output.
FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def figures(request: pytest.FixtureRequest) -> list[str]:
    """Append lines here; they are printed at the end of the run, pass or fail."""
    return request.config.stash.setdefault(FIGURES, [])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)
