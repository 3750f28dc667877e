"""Which synthesized file holds which object: readers go by kind and name, never by
file name, so a renamed or renumbered chart breaks no caller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from stack.config import ConfigError

MANIFEST_GLOB = "*.k8s.yaml"


def manifest_paths(folder: Path) -> list[Path]:
    """The manifest files of a synthesized folder, in apply (name) order."""
    return sorted(folder.glob(MANIFEST_GLOB))


def objects_in(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text()):
        if isinstance(doc, dict):
            yield doc


def file_holding(folder: Path, kind: str, name: str | None = None) -> Path:
    """The file of `folder` holding the `kind` object (named `name` when given)."""
    for path in manifest_paths(folder):
        for obj in objects_in(path):
            if obj.get("kind") == kind and name in (None, obj["metadata"]["name"]):
                return path
    what = f"{kind} {name}" if name else kind
    raise ConfigError(f"{folder}: no {what} in any {MANIFEST_GLOB} file")


def object_of(folder: Path, kind: str, name: str | None = None) -> dict[str, Any]:
    """The `kind` object (named `name` when given) of a synthesized folder."""
    for obj in objects_in(file_holding(folder, kind, name)):
        if obj.get("kind") == kind and name in (None, obj["metadata"]["name"]):
            return obj
    raise AssertionError("unreachable: file_holding found it")
