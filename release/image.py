"""Build and push the order-api image, tagged `<registry>/<repository>:<tag>`.

With buildah, pip inside the Dockerfile's RUN may need the machine's CA bundle
(TLS to the package index intercepted): when the host's pip is configured with
one (PIP_CERT or pip's `global.cert`), it is bind-mounted read-only for the
build only, with a pip.conf naming it, into the build stage's /etc. Only RUN
steps see the mounts, and the final stage has no RUN step and copies only
/opt/venv and /opt/app, so neither reaches any layer of the image.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from release.base_image import ensure_base
from release.commands import run, succeeds
from release.engine import CONTAINERS_DIR, ROOT, Engine
from release.errors import ReleaseError

DOCKERFILE = ROOT / "service" / "Dockerfile"
# Where the mounted bundle and pip.conf appear inside the build's RUN steps.
BUILD_CA_PATH = "/etc/ssl/certs/order-api-build-ca.pem"
BUILD_PIP_CONF = "/etc/pip.conf"


def host_pip_ca() -> Path | None:
    """The CA bundle the host's pip uses, if one is configured."""
    configured = os.environ.get("PIP_CERT") or _pip_config_cert()
    if configured and Path(configured).is_file():
        return Path(configured)
    return None


def _pip_config_cert() -> str | None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.cert"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def _ca_mounts(ca: Path) -> list[str]:
    conf = CONTAINERS_DIR / "build-pip.conf"
    conf.write_text(f"[global]\ncert = {BUILD_CA_PATH}\n")
    return [
        "--volume", f"{ca.resolve()}:{BUILD_CA_PATH}:ro",
        "--volume", f"{conf}:{BUILD_PIP_CONF}:ro",
    ]  # fmt: skip


def build(engine: Engine, reference: str) -> list[str]:
    """Build service/Dockerfile as `reference`; returns notes for the user."""
    notes: list[str] = []
    if not engine.is_buildah:
        run(engine, ["build", "-f", str(DOCKERFILE), "-t", reference, str(ROOT)],
            what=f"docker build {reference}")  # fmt: skip
        return notes
    standin = ensure_base(engine, DOCKERFILE)
    if standin:
        notes.append(standin)
    ca = host_pip_ca()
    args = ["build", "--layers", "--pull=never", "--network", "host"]
    if ca is not None:
        args += _ca_mounts(ca)
        notes.append(f"pip used the host CA bundle {ca} during the build (not in the image)")
    run(engine, [*args, "-f", str(DOCKERFILE), "-t", reference, str(ROOT)],
        what=f"buildah build {reference}")  # fmt: skip
    return notes


def push(engine: Engine, local: str, reference: str) -> None:
    """Push with the user's existing login (docker login / buildah login)."""
    if not _has_registry(reference):
        raise ReleaseError(
            f"{reference} names no registry: set app.image_registry (values.yaml) to push"
        )
    if engine.is_buildah:
        run(engine, ["push", local, f"docker://{reference}"], what=f"pushing {reference}")
    else:
        run(engine, ["push", reference], what=f"pushing {reference}")


def _has_registry(reference: str) -> bool:
    first = reference.split("/", 1)[0]
    return "/" in reference and ("." in first or ":" in first or first == "localhost")


def local_reference(engine: Engine, reference: str) -> str:
    """The name the local store gives `reference` (buildah prefixes a bare one with localhost/)."""
    if engine.is_buildah and not _has_registry(reference):
        return f"localhost/{reference}"
    return reference


def require_image(engine: Engine, reference: str) -> None:
    if not succeeds(engine, ["inspect", "--type", "image", reference] if engine.is_buildah
                    else ["image", "inspect", reference]):  # fmt: skip
        raise ReleaseError(f"{reference} is not built: run `make image` first")
