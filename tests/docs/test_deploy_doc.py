"""docs/deploy.md and the README: every helm install pins the chart version the kit is
written against and gives exactly the values of stack/chart_values.py, the values
the local cluster renders the charts with."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from stack import chart_values
from stack.config import StackConfig
from toolchain import ToolchainError, versions
from toolchain.chart_sources import FLAGGER, METRICS_SERVER, ChartSource, chart_version

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy.md"
PAGES = [DEPLOY, ROOT / "README.md"]


def _module_chart_version(source: ChartSource) -> str:
    try:
        return chart_version(source)
    except ToolchainError as error:
        pytest.fail(f"the {source.name} chart: {error}")


def _helm_installs(page: Path) -> list[str]:
    """Every `helm install`/`helm upgrade --install` command, continuation lines joined."""
    text = page.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines()
            if re.match(r"\s*helm (upgrade --install|install)\b", line)]  # fmt: skip


def _parsed(line: str) -> tuple[str, str, str, list[str]]:
    """release, chart, namespace and the --set values of one documented line."""
    words = shlex.split(line.split("#", 1)[0])
    release, chart = words[3], words[4]
    namespace = words[words.index("--namespace") + 1]
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    return release, chart, namespace, sets


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_helm_install_pins_the_tested_chart_version(page: Path) -> None:
    expected = {
        "flagger/flagger": _module_chart_version(FLAGGER),
        "traefik/traefik": versions.TRAEFIK_CHART,
        "metrics-server/metrics-server": _module_chart_version(METRICS_SERVER),
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


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_helm_install_gives_the_values_the_cluster_renders(page: Path) -> None:
    documented = chart_values.documented(StackConfig())
    for line in _helm_installs(page):
        release, chart, namespace, sets = _parsed(line)
        install = documented[chart]
        assert (release, namespace) == (install.release, install.namespace), line
        assert sets == list(install.sets), f"{page.name}: {line}"


def test_the_kind_line_adds_the_documented_metrics_server_args() -> None:
    match = re.search(r"kind only .*: add (--set .*)$", DEPLOY.read_text(), re.M)
    assert match, "docs/deploy.md lost the kind line of metrics-server"
    words = shlex.split(match[1])
    assert tuple(words[1::2]) == chart_values.METRICS_SERVER_KIND_SETS


def test_the_cluster_ca_line_adds_the_args_the_local_cluster_installs() -> None:
    match = re.search(r"signed by the cluster CA .*: add (--set .*)$", DEPLOY.read_text(), re.M)
    assert match, "docs/deploy.md lost the cluster-CA line of metrics-server"
    words = shlex.split(match[1])
    assert tuple(words[1::2]) == chart_values.METRICS_SERVER_CLUSTER_CA_SETS


def test_the_metrics_server_image_tag_is_the_pinned_module() -> None:
    assert chart_values.METRICS_SERVER_IMAGE_TAG == versions.METRICS_SERVER


def test_the_k3s_path_installs_no_second_traefik_or_metrics_server() -> None:
    k3s = DEPLOY.read_text().split("## k3s", 1)[1].split("\n## ", 1)[0]
    assert "helm upgrade --install flagger" in k3s
    assert "traefik/traefik" not in k3s and "metrics-server/metrics-server" not in k3s


def test_the_generic_buckets_are_the_default_setting() -> None:
    match = re.search(r"metrics\.prometheus\.buckets=([0-9.\\,]+)'", DEPLOY.read_text())
    assert match
    buckets = tuple(float(b) for b in match[1].split("\\,"))
    assert buckets == StackConfig().ingress.traefik_latency_buckets
