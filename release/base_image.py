"""A stand-in for the Dockerfile's base image, built locally with mmdebstrap.

The official python image cannot be pulled here (builds reach package
registries only), so when the FROM image is not in the local store, a Debian
root filesystem with Debian's own Python (python3, python3-venv,
python-is-python3) is tagged with the FROM name and labelled a stand-in. It
differs from the official image: Python is Debian's 3.11 package
(/usr/bin/python3, Debian's patch level, not the FROM tag's 3.11.x built from
source in /usr/local), pip/ensurepip come from Debian's wheels, and the
official image's ENV (PYTHON_VERSION, GPG_KEY, LANG) is absent. The
Dockerfile is unchanged: it needs only `python`, `python -m venv` and pip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from release.commands import run, succeeds
from release.engine import CONTAINERS_DIR, Engine
from release.errors import ReleaseError

STANDIN_LABEL = "org.order-api-sre.stand-in"
STANDIN_PACKAGES = ("python3", "python3-venv", "python-is-python3")
# The official image's Debian release is the last part of its tag (…-slim-bookworm).
_SUITE = re.compile(r"-(?:slim-)?([a-z]+)$")
_FROM = re.compile(r"^FROM\s+(\S+)", re.MULTILINE | re.IGNORECASE)


def base_reference(dockerfile: Path) -> str:
    """The first FROM of the Dockerfile (the base every stage starts from)."""
    match = _FROM.search(dockerfile.read_text())
    if match is None:
        raise ReleaseError(f"{dockerfile}: no FROM line")
    return match[1]


def qualified(reference: str) -> str:
    """Docker Hub's full name for a short one (python:3.11 -> docker.io/library/python:3.11)."""
    first = reference.split("/", 1)[0]
    if "/" in reference and ("." in first or ":" in first or first == "localhost"):
        return reference
    path = reference if "/" in reference else f"library/{reference}"
    return f"docker.io/{path}"


def suite_of(reference: str) -> str:
    match = _SUITE.search(reference.rpartition(":")[2])
    if match is None:
        raise ReleaseError(f"cannot tell the Debian release of the base image {reference!r}")
    return match[1]


def _rootfs(suite: str, tarball: Path) -> None:
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ReleaseError(
            "the base image is not in the local store and mmdebstrap is not installed to build "
            "a stand-in: apt-get install mmdebstrap"
        )
    proc = subprocess.run(
        [
            mmdebstrap, "--variant=minbase", "--quiet",
            f"--include={','.join(STANDIN_PACKAGES)}",
            # A smaller image: no documentation, manuals or locales.
            "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            suite, str(tarball),
        ],
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise ReleaseError(f"mmdebstrap could not build the {suite} root filesystem")


def ensure_base(engine: Engine, dockerfile: Path) -> str | None:
    """Make the FROM image available without a pull; returns a note when a stand-in was built."""
    reference = qualified(base_reference(dockerfile))
    if succeeds(engine, ["inspect", "--type", "image", reference]):
        return None
    suite = suite_of(reference)
    work = CONTAINERS_DIR / "base"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        context = Path(scratch)
        _rootfs(suite, context / "rootfs.tar")
        (context / "Containerfile").write_text(
            "FROM scratch\nADD rootfs.tar /\n"
            f'LABEL {STANDIN_LABEL}="Debian {suite} python3 from Debian packages, built locally '
            f'by mmdebstrap in place of {reference}"\n'
            'CMD ["python3"]\n'
        )
        run(
            engine,
            ["build", "--pull=never", "--network", "host", "-t", reference,
             "-f", str(context / "Containerfile"), str(context)],
            what=f"building the stand-in base {reference}",
        )  # fmt: skip
    return (
        f"built a stand-in for {reference}: Debian {suite}'s python3 packages "
        "(not the official image's Python built from source)"
    )
