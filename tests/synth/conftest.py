"""Fixtures of the synth tests: one synthesis of the default config per session."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stack.config import load_config
from synth.main import synthesize
from tests.support.synth_output import Manifest, load_manifests

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


@dataclass(frozen=True)
class Synthesized:
    """A synthesized dist/ and its objects; every accessor hands out deep copies,
    so a test cannot change what the next one sees."""

    outdir: Path
    _manifests: tuple[Manifest, ...]

    def manifests(self) -> list[Manifest]:
        return [copy.deepcopy(m) for m in self._manifests]

    def find(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        return [
            m.obj for m in self.manifests() if m.kind == kind and (name is None or m.name == name)
        ]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = self.find(kind, name)
        assert len(found) == 1, f"expected exactly one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def pod_templates(self) -> Iterator[tuple[Manifest, dict[str, Any]]]:
        """(owner, pod spec) of every workload."""
        for m in self.manifests():
            if m.kind in WORKLOAD_KINDS:
                yield m, m.obj["spec"]["template"]["spec"]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A fresh synth of the default config (no ORDER_API_SRE_* from the caller's shell)."""
    out = tmp_path_factory.mktemp("synth") / "dist"
    synthesize(load_config(env={}), out)
    return Synthesized(outdir=out, _manifests=tuple(load_manifests(out)))
