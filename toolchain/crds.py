"""The CRDs of Flagger, Traefik, k3s's helm-controller, cert-manager and prometheus-operator.

`go mod download` puts each module in the Go module cache (read-only, shared,
kept between runs), so the CRDs are the upstream files at exactly the pinned
versions, fetched once and never copied into this repository.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolchain import versions
from toolchain.gotool import download
from toolchain.toolchain_error import ToolchainError


@dataclass(frozen=True)
class CrdSource:
    name: str
    module: str
    version: str
    path: str  # inside the module


SOURCES = (
    CrdSource(
        "flagger", "github.com/fluxcd/flagger", versions.FLAGGER, "artifacts/flagger/crd.yaml"
    ),
    CrdSource(
        "traefik",
        "github.com/traefik/traefik/v3",
        versions.TRAEFIK,
        "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml",
    ),
    CrdSource(
        "helm-controller",
        "github.com/k3s-io/helm-controller",
        versions.HELM_CONTROLLER,
        "pkg/crds/yaml/generated/helm.cattle.io_helmchartconfigs.yaml",
    ),
    CrdSource(
        "cert-manager",
        "github.com/cert-manager/cert-manager",
        versions.CERT_MANAGER,
        "deploy/crds/cert-manager.io_certificates.yaml",
    ),
    *(
        CrdSource(
            f"prometheus-operator-{kind}",
            "github.com/prometheus-operator/prometheus-operator",
            versions.PROMETHEUS_OPERATOR,
            f"example/prometheus-operator-crd/monitoring.coreos.com_{kind}.yaml",
        )
        for kind in ("podmonitors", "prometheusrules")
    ),
)


@functools.cache
def crd_files() -> tuple[Path, ...]:
    """The CRD files of every source, downloaded into the Go module cache on first use."""
    files = []
    for source in SOURCES:
        path = Path(download(source.module, source.version)["Dir"]) / source.path
        if not path.is_file():
            raise ToolchainError(f"{source.module}@{source.version} has no {source.path}")
        files.append(path)
    return tuple(files)


def crd_documents() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition of the sources, parsed (a fresh copy per call)."""
    import yaml  # only the CRD readers need PyYAML; the builder does not

    documents = []
    for path in crd_files():
        try:
            loaded = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as error:
            raise ToolchainError(f"{path}: not YAML ({error})") from error
        documents += [d for d in loaded if d and d.get("kind") == "CustomResourceDefinition"]
    return documents


def crd_kinds() -> set[str]:
    return {d["spec"]["names"]["kind"] for d in crd_documents()}
