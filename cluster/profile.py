"""The stack a local cluster runs: its settings and the synthesized folder it applies.

Every namespace and name the cluster needs (the app's, Traefik's, Flagger's,
metrics-server's, Prometheus' address) is read here from the typed config or
from the synthesized objects, never spelled in `cluster/`.

`up` without a values file applies the committed dist/ (the README's deploy
steps; the drift test keeps it equal to a synthesis of values.yaml); with one,
it synthesizes that file into the run directory first, the way `make synth`
does (the ORDER_API_SRE_* variables apply), and applies that folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cluster.layout import paths
from stack import chart_values
from stack.config import ConfigError, StackConfig, load_config
from stack.names import (
    HELM_CHART_CONFIG,
    K3S_SYSTEM_NAMESPACE,
    K3S_TRAEFIK_CHART,
    AppNames,
    app_names,
)
from synth.main import DEFAULT_OUTPUT, DEFAULT_VALUES, synthesize
from synth.manifest_files import file_holding, manifest_paths, objects_in


@dataclass(frozen=True, kw_only=True)
class ClusterProfile:
    config: StackConfig
    manifests: Path  # the synthesized folder `up` applies
    values_file: Path | None = None  # None: the committed values.yaml and dist/

    @property
    def namespace(self) -> str:
        return self.config.namespace

    @property
    def app(self) -> AppNames:
        return app_names(self.config)

    @property
    def traefik_namespace(self) -> str:
        return self.config.monitoring.traefik_namespace

    @property
    def traefik_service(self) -> str:
        return self.config.ingress.traefik_service

    @property
    def flagger_namespace(self) -> str:
        return self.config.monitoring.flagger_namespace

    @property
    def metrics_server_namespace(self) -> str:
        """Where k3s bundles it, and where the documented helm install puts it."""
        return chart_values.metrics_server().namespace

    @property
    def prometheus_url(self) -> str:
        """Flagger's metrics server: the address Grafana and the MetricTemplates use."""
        return self.config.prometheus_url

    @property
    def namespace_file(self) -> Path:
        """The file with the app's Namespace: the README applies it first."""
        return file_holding(self.manifests, "Namespace", self.namespace)

    @property
    def bundled_traefik_values(self) -> dict[str, Any] | None:
        """The values the folder's HelmChartConfig gives k3s's bundled Traefik
        (its `valuesContent`); None when the folder has none (Traefik is the
        user's own helm install)."""
        for path in manifest_paths(self.manifests):
            for obj in objects_in(path):
                meta = obj.get("metadata") or {}
                if obj.get("kind") == HELM_CHART_CONFIG and (
                    meta.get("name"),
                    meta.get("namespace"),
                ) == (K3S_TRAEFIK_CHART, K3S_SYSTEM_NAMESPACE):
                    values = yaml.safe_load(obj["spec"].get("valuesContent") or "") or {}
                    if not isinstance(values, dict):
                        raise ConfigError(f"{path}: HelmChartConfig valuesContent is no mapping")
                    return values
        return None

    def record(self) -> str:
        """What `running_values_file` reads back: which profile a running cluster has."""
        return json.dumps({"values_file": str(self.values_file) if self.values_file else None})


def default_profile() -> ClusterProfile:
    """values.yaml and the committed dist/ synthesized from it."""
    return ClusterProfile(
        config=load_config(env={}, values_file=DEFAULT_VALUES), manifests=DEFAULT_OUTPUT
    )


def synthesized_profile(values_file: Path, into: Path) -> ClusterProfile:
    """`values_file` synthesized into `into` (a bad value raises ConfigError naming it)."""
    config = load_config(values_file=values_file)
    synthesize(config, into)
    return ClusterProfile(config=config, manifests=into, values_file=values_file.resolve())


def running_values_file() -> Path | None:
    """The values file the running cluster was brought up with (None: dist/)."""
    try:
        value = json.loads(paths().profile.read_text()).get("values_file")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(value) if value else None


def running_profile() -> ClusterProfile:
    """The running cluster's profile (its synthesized folder is in the run directory)."""
    values_file = running_values_file()
    if values_file is None:
        return default_profile()
    return ClusterProfile(
        config=load_config(values_file=values_file),
        manifests=paths().synthesized,
        values_file=values_file,
    )
