"""The node's image store: the order-api image `make image` builds, as an OCI layout.

The node runs every `order-api:*` pod as an OCI container (runc) from this
image; the upstream images stay local programs (cluster/images.py). The image
is built once with the release package (buildah, project-local storage) and
exported into an OCI layout in the cache; it is rebuilt only when what the
Dockerfile copies changes (the Dockerfile, service/requirements.txt,
service/order_api/), so a warm `up` spends no time on it. The kubelet unpacks
each manifest once (umoci) into the cache beside it.

Without buildah, runc or umoci the node cannot run the image: under CI=true
that is an error; elsewhere `up` says so and order-api runs as the program.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
# What the Dockerfile copies into the image, besides the Dockerfile itself.
BUILD_INPUTS = ("service/Dockerfile", "service/requirements.txt", "service/order_api")
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
# As the kubelet's --pod-max-pids: a pod spec cannot limit its own PIDs.
POD_PIDS_LIMIT = 1024
RUNTIME_TOOLS = ("buildah", "runc", "umoci")


class ImageStoreError(RuntimeError):
    """The order-api image could not be built or exported (message for the user)."""


@dataclass(frozen=True)
class StorePaths:
    root: Path

    @property
    def layout(self) -> Path:
        """The OCI layout the node reads images from."""
        return self.root / "oci"

    @property
    def unpacked(self) -> Path:
        """One root filesystem per manifest digest, written by the kubelet."""
        return self.root / "unpacked"

    @property
    def stamp(self) -> Path:
        return self.root / "built.json"


def store_paths() -> StorePaths:
    from toolchain import cache_root  # neutral package: the cache lives beside the toolchain

    return StorePaths(cache_root().parent / "images")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def inputs_digest(project: Path = PROJECT) -> str:
    """sha256 over the build inputs' paths and contents."""
    digest = hashlib.sha256()
    for name in BUILD_INPUTS:
        top = project / name
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for f in files:
            if "__pycache__" in f.parts:
                continue
            digest.update(str(f.relative_to(project)).encode() + b"\0")
            digest.update(f.read_bytes() + b"\0")
    return digest.hexdigest()


def layout_refs(layout: Path) -> dict[str, str]:
    """Reference name -> manifest digest of an OCI layout ({} when there is none)."""
    try:
        index = json.loads((layout / "index.json").read_text())
    except (OSError, ValueError):
        return {}
    return {
        m["annotations"][REF_NAME_ANNOTATION]: m["digest"]
        for m in index.get("manifests", [])
        if REF_NAME_ANNOTATION in (m.get("annotations") or {})
    }


@contextmanager
def _locked(paths: StorePaths) -> Iterator[None]:
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _missing_tools() -> list[str]:
    return [t for t in RUNTIME_TOOLS if shutil.which(t) is None]


def ensure_image(reference: str, say: Callable[[str], None]) -> StorePaths:
    """The order-api image `reference` in the store, built and exported when its inputs changed."""
    from release.engine import buildah_engine
    from release.errors import ReleaseError
    from release.image import build, local_reference

    paths = store_paths()
    digest = inputs_digest()
    with _locked(paths):
        stamp = _read_stamp(paths)
        if stamp.get("inputs") == digest and reference in layout_refs(paths.layout):
            return paths
        say(f"image: building {reference} with buildah (service/Dockerfile changed or first use)")
        try:
            engine = buildah_engine()
            for note in build(engine, reference):
                say(f"image: {note}")
            local = local_reference(engine, reference)
            _export(engine.argv, engine.env, local, paths.layout, reference)
        except ReleaseError as error:
            raise ImageStoreError(f"the order-api image: {error}") from None
        paths.stamp.write_text(json.dumps({"inputs": digest, "reference": reference}))
    return paths


def _read_stamp(paths: StorePaths) -> dict[str, Any]:
    try:
        data = json.loads(paths.stamp.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _export(argv: tuple[str, ...], env: dict[str, str], local: str, layout: Path, ref: str) -> None:
    """buildah push into the OCI layout under the reference name `ref`."""
    result = subprocess.run(
        [*argv, "push", "--quiet", local, f"oci:{layout}:{ref}"],
        env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise ImageStoreError(f"exporting {local} to {layout}: {result.stderr.strip()[-2000:]}")


def node_config(image: str, say: Callable[[str], None]) -> dict[str, Any]:
    """The kubelet config keys that run `image` (the profile's app image) as
    containers ({}: order-api runs as the program)."""
    missing = _missing_tools()
    if missing:
        message = f"{', '.join(missing)} not installed: the node cannot run the order-api image"
        if in_ci():
            raise ImageStoreError(f"CI=true: {message} (apt-get install {' '.join(missing)})")
        say(f"image: {message}; order-api pods run as the local program (cluster/images.py)")
        return {}
    paths = ensure_image(image, say)
    repository = image.rpartition(":")[0]
    return {
        "ociLayout": str(paths.layout),
        "imageCache": str(paths.unpacked),
        "runc": shutil.which("runc"),
        "umoci": shutil.which("umoci"),
        "ociImages": [{"pattern": f"{repository}:*", "ref": image}],
        "podPidsLimit": POD_PIDS_LIMIT,
    }
