"""The node's image store without building anything: what decides a rebuild, the
layout's reference names, and what happens without the container tools."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cluster import image_store


def _project(root: Path) -> Path:
    (root / "service" / "order_api").mkdir(parents=True)
    (root / "service" / "Dockerfile").write_text("FROM x\n")
    (root / "service" / "requirements.txt").write_text("sanic==1\n")
    (root / "service" / "order_api" / "app.py").write_text("print(1)\n")
    return root


def test_the_inputs_digest_follows_what_the_dockerfile_copies(tmp_path):
    project = _project(tmp_path)
    first = image_store.inputs_digest(project)
    (project / "service" / "order_api" / "__pycache__").mkdir()
    (project / "service" / "order_api" / "__pycache__" / "app.pyc").write_bytes(b"\0")
    (project / "README.md").write_text("not copied into the image")
    assert image_store.inputs_digest(project) == first
    (project / "service" / "order_api" / "app.py").write_text("print(2)\n")
    assert image_store.inputs_digest(project) != first


def test_layout_refs_maps_reference_names_to_manifests(tmp_path):
    assert image_store.layout_refs(tmp_path) == {}
    named = {image_store.REF_NAME_ANNOTATION: "order-api:1"}
    index = {
        "schemaVersion": 2,
        "manifests": [
            {"digest": "sha256:aa", "annotations": named},
            {"digest": "sha256:bb"},
        ],
    }
    (tmp_path / "index.json").write_text(json.dumps(index))
    assert image_store.layout_refs(tmp_path) == {"order-api:1": "sha256:aa"}


def test_without_the_tools_ci_fails_and_elsewhere_order_api_runs_as_the_program(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "umoci" else f"/x/{name}")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(image_store.ImageStoreError, match="CI=true: umoci not installed"):
        image_store.node_config("order-api:1", lambda _line: None)
    monkeypatch.setenv("CI", "")
    said: list[str] = []
    assert image_store.node_config("order-api:1", said.append) == {}
    assert "order-api pods run as the local program" in said[0]
