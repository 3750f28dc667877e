"""The CRDs come from the pinned upstream Go modules, never from a folder beside the repo."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from toolchain import ToolchainError, crds, versions
from toolchain.gotool import go_binary

EXPECTED = {"Canary", "MetricTemplate", "AlertProvider", "IngressRoute", "Middleware"}
EXPECTED |= {"TraefikService", "HelmChartConfig", "Certificate", "PodMonitor", "PrometheusRule"}


@pytest.fixture(scope="module", autouse=True)
def _go() -> None:
    try:
        go_binary()
    except ToolchainError as error:
        pytest.fail(f"Go is a prerequisite: {error}")


def test_the_kinds_the_project_uses_are_served() -> None:
    assert crds.crd_kinds() >= EXPECTED


def test_each_file_is_read_from_its_pinned_module() -> None:
    by_name = dict(zip((s.name for s in crds.SOURCES), crds.crd_files(), strict=True))
    assert f"flagger@{versions.FLAGGER}" in str(by_name["flagger"])
    assert f"traefik/v3@{versions.TRAEFIK}" in str(by_name["traefik"])
    assert f"helm-controller@{versions.HELM_CONTROLLER}" in str(by_name["helm-controller"])
    assert f"cert-manager@{versions.CERT_MANAGER}" in str(by_name["cert-manager"])
    # Read from the Go module cache, nothing from the checkout or beside it.
    modcache = subprocess.run(
        ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for path in by_name.values():
        assert Path(modcache).resolve() in path.resolve().parents, path


def test_every_document_is_a_structural_crd() -> None:
    for crd in crds.crd_documents():
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1", crd["metadata"]["name"]
        for version in crd["spec"]["versions"]:
            assert version["schema"]["openAPIV3Schema"]["type"] == "object"


def test_a_missing_file_in_a_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    source = crds.CrdSource("flagger", "github.com/fluxcd/flagger", versions.FLAGGER, "no/crd.yaml")
    monkeypatch.setattr(crds, "SOURCES", (source,))
    crds.crd_files.cache_clear()
    try:
        with pytest.raises(
            ToolchainError, match=re.escape(f"flagger@{versions.FLAGGER} has no no/crd.yaml")
        ):
            crds.crd_files()
    finally:
        crds.crd_files.cache_clear()
