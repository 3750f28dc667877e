"""What a synthesis wrote (its manifests, files, and the Synthesized view of them), and an
environment without overrides.

The session's synthesis is the `synthesized` fixture in tests/synth/conftest.py.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"


@dataclass(frozen=True)
class Manifest:
    """One synthesized object and the file it came from."""

    file: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.obj["kind"]

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def label(self) -> str:
        return f"{self.file}: {self.kind}/{self.name}"


def load_manifests(outdir: Path) -> list[Manifest]:
    return [
        Manifest(file=path.name, obj=obj)
        for path in sorted(outdir.glob("*.yaml"))
        for obj in yaml.safe_load_all(path.read_text())
        if obj is not None
    ]


def clean_env() -> dict[str, str]:
    """The caller's environment without stack overrides (tests pin their config)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ORDER_API_SRE_")}


def tree(outdir: Path) -> dict[str, bytes]:
    """Every file under `outdir` by relative path, for byte-exact comparisons."""
    return {
        str(p.relative_to(outdir)): p.read_bytes() for p in sorted(outdir.rglob("*")) if p.is_file()
    }


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
