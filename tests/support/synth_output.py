"""What a synthesis wrote: its manifests and files, and an environment without overrides.

The session's synthesis is the `synthesized` fixture in tests/synth/conftest.py.
"""

from __future__ import annotations

import os
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
