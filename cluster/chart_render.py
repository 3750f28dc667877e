"""The real charts, rendered by the toolchain's helm with the documented values.

`helm template` of a chart from its pinned Go module (toolchain/chart_sources.py)
with the `--set` arguments of stack/chart_values.py, which are the docs' helm
lines: what the local cluster applies is what `helm upgrade --install` gives a
user. Not cached: one render takes 0.1 to 0.2 s (docs/measurements.md).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any

from stack import chart_values
from stack.chart_values import HelmInstall
from stack.config import StackConfig
from toolchain import ToolchainError, bin_path, versions
from toolchain.chart_sources import (
    FLAGGER,
    LOADTESTER,
    METRICS_SERVER,
    ChartSource,
    chart_dir,
)

Manifest = dict[str, Any]
# Helm needs no repository or plugin to render a chart folder: point its
# homes at an empty folder so nothing of the user's ~/.config/helm is read.
HELM_HOMES = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")


class ChartError(RuntimeError):
    """helm could not render a chart; the message names the chart and helm's words."""


def helm_args(source: ChartSource, install: HelmInstall, namespace: str) -> list[str]:
    """`helm template` as `helm upgrade --install` would render it for this namespace."""
    args = [
        "template",
        install.release,
        str(chart_dir(source)),
        "--namespace",
        namespace,
        "--kube-version",
        versions.KUBERNETES,
    ]
    for value in install.sets:
        args += ["--set", value]
    return args


def _helm(args: list[str], what: str) -> str:
    try:
        helm = bin_path("helm")
    except ToolchainError as error:
        raise ChartError(str(error)) from error
    with tempfile.TemporaryDirectory(prefix="order-api-sre-helm-") as home:
        env = {**os.environ, **dict.fromkeys(HELM_HOMES, home)}
        result = subprocess.run(
            [str(helm), *args], capture_output=True, text=True, env=env, timeout=120
        )
    if result.returncode != 0:
        raise ChartError(f"helm template {what} failed: {result.stderr.strip()}")
    return result.stdout


def render_text(source: ChartSource, install: HelmInstall, namespace: str) -> str:
    """The chart's YAML, as helm renders it."""
    return _helm(helm_args(source, install, namespace), f"{source.name} ({install.chart})")


# The cluster-scoped kinds these charts render; every other object belongs in
# the release namespace, where `helm install` puts those a template leaves
# without one (the loadtester's Deployment, for one).
CLUSTER_SCOPED = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "APIService"}
)


def _in_namespace(manifest: Manifest, namespace: str) -> Manifest:
    if manifest["kind"] not in CLUSTER_SCOPED:
        manifest.setdefault("metadata", {}).setdefault("namespace", namespace)
    return manifest


def render(source: ChartSource, install: HelmInstall, namespace: str) -> list[Manifest]:
    """The chart's objects, parsed, each namespaced object in `namespace`."""
    import yaml

    text = render_text(source, install, namespace)
    return [_in_namespace(d, namespace) for d in yaml.safe_load_all(text) if d]


def flagger(namespace: str, config: StackConfig) -> list[Manifest]:
    """Flagger's chart with the documented values (meshProvider, metricsServer)."""
    return render(FLAGGER, chart_values.flagger(config), namespace)


# The release name that makes the chart's objects `flagger-loadtester`, the
# name dist/ gives its loadtester (stack.names.LOADTESTER).
LOADTESTER_RELEASE = "flagger-loadtester"


def loadtester(namespace: str) -> list[Manifest]:
    """The loadtester's chart with its defaults (no documented helm line sets any)."""
    install = HelmInstall(LOADTESTER_RELEASE, "flagger/loadtester", namespace)
    return render(LOADTESTER, install, namespace)


def metrics_server(namespace: str, extra_sets: tuple[str, ...] = ()) -> list[Manifest]:
    """metrics-server's chart with the documented values; `extra_sets` adds the
    documented kind line (chart_values.METRICS_SERVER_KIND_SETS) where the
    kubelet's serving certificate cannot be verified."""
    documented = chart_values.metrics_server()
    install = HelmInstall(
        documented.release, documented.chart, namespace, (*documented.sets, *extra_sets)
    )
    return render(METRICS_SERVER, install, namespace)


def images(manifests: list[Manifest]) -> set[str]:
    """Every container image the rendered objects run."""
    found = set()
    for m in manifests:
        spec = m.get("spec", {}).get("template", {}).get("spec", {})
        for c in [*spec.get("containers", []), *spec.get("initContainers", [])]:
            found.add(c["image"])
    return found
