"""The helm charts of Flagger, its loadtester and metrics-server, from their Go modules.

As with the CRDs (toolchain/crds.py), `go mod download` puts each pinned module
in the Go module cache and the chart is its folder there: the upstream files at
exactly the pinned versions, never copied into this repository.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from toolchain import versions
from toolchain.gotool import download
from toolchain.toolchain_error import ToolchainError


@dataclass(frozen=True)
class ChartSource:
    name: str
    module: str
    version: str
    path: str  # the chart's folder inside the module


FLAGGER = ChartSource("flagger", "github.com/fluxcd/flagger", versions.FLAGGER, "charts/flagger")
LOADTESTER = ChartSource(
    "loadtester", "github.com/fluxcd/flagger", versions.FLAGGER, "charts/loadtester"
)
METRICS_SERVER = ChartSource(
    "metrics-server",
    "sigs.k8s.io/metrics-server",
    versions.METRICS_SERVER,
    "charts/metrics-server",
)
SOURCES = (FLAGGER, LOADTESTER, METRICS_SERVER)


@functools.cache
def chart_dir(source: ChartSource) -> Path:
    """The chart folder (with its Chart.yaml), downloaded into the module cache on first use."""
    folder = Path(download(source.module, source.version)["Dir"]) / source.path
    if not (folder / "Chart.yaml").is_file():
        raise ToolchainError(f"{source.module}@{source.version} has no chart {source.path}")
    return folder


def chart_version(source: ChartSource) -> str:
    """The chart's own version (its Chart.yaml), which the docs' `--version` pins."""
    import yaml  # only the chart readers need PyYAML; the builder does not

    path = chart_dir(source) / "Chart.yaml"
    try:
        return str(yaml.safe_load(path.read_text())["version"])
    except (yaml.YAMLError, KeyError, TypeError) as error:
        raise ToolchainError(f"{path}: no chart version ({error})") from error
