"""`make image` on this machine (buildah, the stand-in base): the image's config,
its layers free of build-time pip configuration and CA bundles, its size, and
that it imports the service."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.engine import Engine, buildah_engine
from release.image import BUILD_CA_PATH, host_pip_ca
from stack.config import load_config
from synth.main import DEFAULT_VALUES
from tests.support.prerequisites import require_binary
from tests.support.synth_output import ROOT, clean_env

APP_UID = "10001"
PORT = "8080/tcp"
ENTRYPOINT = ["python", "-m", "order_api"]
# The stand-in base (Debian python3) plus the venv: well under this.
MAX_IMAGE_BYTES = 250 * 1024**2
BUILD_TIMEOUT_S = 900
PIP_CONFIG_NAMES = {"pip.conf", "pip.ini"}


pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def built() -> tuple[Engine, str, float]:
    require_binary("buildah", "apt-get install buildah")
    require_binary("mmdebstrap", "apt-get install mmdebstrap")
    start = time.monotonic()
    result = subprocess.run(
        ["make", "--no-print-directory", "image"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    reference = result.stdout.strip().splitlines()[-1]
    assert reference.endswith(load_config(env={}, values_file=DEFAULT_VALUES).app.image)
    return buildah_engine(), reference, time.monotonic() - start


def _buildah(engine: Engine, *args: str) -> str:
    return subprocess.run(
        [*engine.argv, *args], env={**os.environ, **engine.env},
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout  # fmt: skip


def test_the_image_config(built: tuple[Engine, str, float]) -> None:
    engine, reference, _ = built
    config = json.loads(_buildah(engine, "inspect", "--type", "image", reference))["OCIv1"]
    assert config["config"]["User"].split(":")[0] == APP_UID
    assert config["config"]["Entrypoint"] == ENTRYPOINT
    assert PORT in config["config"]["ExposedPorts"]
    assert not any(e.startswith("PIP_CERT") for e in config["config"].get("Env", []))


def _layers(engine: Engine, reference: str, into: Path) -> Iterator[tarfile.TarFile]:
    _buildah(engine, "push", reference, f"oci:{into}")
    index = json.loads((into / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((into / "blobs" / "sha256" / digest).read_text())
    for layer in manifest["layers"]:
        with tarfile.open(into / "blobs" / "sha256" / layer["digest"].split(":")[1]) as tar:
            yield tar


def test_no_layer_holds_pip_configuration_or_the_build_ca(
    built: tuple[Engine, str, float], tmp_path: Path
) -> None:
    engine, reference, _ = built
    ca = host_pip_ca()
    ca_digest = hashlib.sha256(ca.read_bytes()).hexdigest() if ca else None
    total = 0
    found = []
    for tar in _layers(engine, reference, tmp_path / "oci"):
        for member in tar.getmembers():
            total += member.size
            name = Path(member.name)
            if name.name in PIP_CONFIG_NAMES or member.name.lstrip("./") == BUILD_CA_PATH[1:]:
                found.append(member.name)
            if ca and member.isfile() and member.size == ca.stat().st_size:
                data = tar.extractfile(member)
                if data and hashlib.sha256(data.read()).hexdigest() == ca_digest:
                    found.append(f"{member.name} (the host CA bundle)")
    assert not found
    assert 0 < total < MAX_IMAGE_BYTES, f"{total / 1024**2:.0f} MiB"
    print(f"\nimage {reference}: {total / 1024**2:.0f} MiB uncompressed")


def test_the_image_runs_the_service_code(built: tuple[Engine, str, float]) -> None:
    engine, reference, seconds = built
    container = _buildah(engine, "from", "--pull=never", reference).strip()
    try:
        out = _buildah(
            engine,
            "run",
            "--isolation",
            "chroot",
            container,
            "--",
            "python",
            "-c",
            "import order_api, sanic; print('imports ok')",
        )
    finally:
        _buildah(engine, "rm", container)
    assert "imports ok" in out
    print(f"\nmake image took {seconds:.0f} s")


def test_make_release_builds_writes_the_tag_and_synthesizes(
    built: tuple[Engine, str, float], tmp_path: Path
) -> None:
    """On a copy of values.yaml: the image with the new tag exists, the file keeps
    its comments with the new tag, and the output folder runs that image."""
    values = tmp_path / "values.yaml"
    values.write_text(DEFAULT_VALUES.read_text())
    out = tmp_path / "dist"
    result = subprocess.run(
        ["make", "--no-print-directory", "release", "TAG=1.0.1-rc.1",
         f"VALUES={values}", f"OUT={out}"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    engine = built[0]
    reference = result.stdout.strip().splitlines()[-1]
    assert reference.endswith("order-api:1.0.1-rc.1")
    _buildah(engine, "inspect", "--type", "image", reference)
    assert "  image_tag: 1.0.1-rc.1\n" in values.read_text()
    assert values.read_text().startswith(DEFAULT_VALUES.read_text().split("\n", 1)[0])
    assert "image: order-api:1.0.1-rc.1" in (out / "20-order-api.k8s.yaml").read_text()
    assert "k3s ctr images import" in result.stderr
    assert "get canary" in result.stderr
    _buildah(engine, "rmi", reference)
