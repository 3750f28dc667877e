"""docs/deploy.md: every helm install pins the chart version the kit is written against."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from toolchain import ToolchainError, versions
from toolchain.gotool import download

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy.md"
FLAGGER_MODULE = "github.com/fluxcd/flagger"


def _flagger_chart_version() -> str:
    try:
        module = Path(download(FLAGGER_MODULE, versions.FLAGGER)["Dir"])
    except ToolchainError as error:
        pytest.fail(f"the Flagger module: {error}")
    chart = yaml.safe_load((module / "charts" / "flagger" / "Chart.yaml").read_text())
    return str(chart["version"])


def _helm_installs(page: Path) -> list[str]:
    """Every `helm install`/`helm upgrade --install` command, continuation lines joined."""
    text = page.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines()
            if re.match(r"\s*helm (upgrade --install|install)\b", line)]  # fmt: skip


@pytest.mark.parametrize("page", [DEPLOY, ROOT / "README.md"], ids=lambda p: p.name)
def test_every_helm_install_pins_the_tested_chart_version(page: Path) -> None:
    expected = {
        "flagger/flagger": _flagger_chart_version(),
        "traefik/traefik": versions.TRAEFIK_CHART,
        "metrics-server/metrics-server": versions.METRICS_SERVER_CHART,
    }
    installs = _helm_installs(page)
    assert installs, f"{page.name} lost its helm installs"
    charts = set()
    for line in installs:
        match = re.search(r"\s(\S+/\S+)\s.*--version[ =](\S+)", line)
        assert match, f"no chart with --version in: {line}"
        chart, version = match[1], match[2]
        assert chart in expected, f"unknown chart {chart}: {line}"
        assert version == expected[chart], f"{chart} --version {version}, pinned {expected[chart]}"
        charts.add(chart)
    assert charts == set(expected)


def test_the_k3s_path_installs_no_second_traefik_or_metrics_server() -> None:
    k3s = DEPLOY.read_text().split("## k3s", 1)[1].split("\n## ", 1)[0]
    assert "helm upgrade --install flagger" in k3s
    assert "traefik/traefik" not in k3s and "metrics-server/metrics-server" not in k3s


def test_the_generic_buckets_are_the_default_setting() -> None:
    from stack.config import StackConfig

    match = re.search(r"metrics\.prometheus\.buckets=([0-9.\\,]+)'", DEPLOY.read_text())
    assert match
    buckets = tuple(float(b) for b in match[1].split("\\,"))
    assert buckets == StackConfig().ingress.traefik_latency_buckets
