"""The cdk8s app: `cdk8s synth` (via cdk8s.yaml) or `python -m synth.main`.

Both write the same dist/: one YAML file per chart at the top level, prefixed
so that `kubectl apply -f dist/` (lexical order, no -R) creates the Namespace
first, and non-manifest copies (dashboard JSON) in subfolders kubectl skips.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import cdk8s

from dashboards.build import dashboards_json
from stack.config import ConfigError, StackConfig, load_config
from stack.validation import check_config
from synth.charts.canary import CanaryChart
from synth.charts.grafana import GrafanaChart
from synth.charts.ingress import IngressChart
from synth.charts.namespace import NamespaceChart
from synth.charts.network_policies import NetworkPoliciesChart
from synth.charts.order_api import OrderApiChart
from synth.charts.prometheus import PrometheusChart

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_SUFFIX = ".k8s.yaml"
DASHBOARDS_SUBDIR = "dashboards"


def build_app(config: StackConfig, outdir: Path) -> cdk8s.App:
    """One chart per concern; chart ids become the file names in apply order."""
    app = cdk8s.App(
        outdir=str(outdir),
        yaml_output_type=cdk8s.YamlOutputType.FILE_PER_CHART,
        output_file_extension=MANIFEST_SUFFIX,
    )
    NamespaceChart(app, "00-namespace", config=config)
    NetworkPoliciesChart(app, "10-network-policies", config=config)
    workload = OrderApiChart(app, "20-order-api", config=config)
    CanaryChart(
        app, "30-canary", config=config, target=workload.deployment, autoscaler=workload.hpa
    )
    IngressChart(app, "40-ingress", config=config)
    PrometheusChart(app, "50-prometheus", config=config)
    GrafanaChart(app, "60-grafana", config=config)
    return app


def synthesize(config: StackConfig, outdir: Path) -> None:
    """Write the whole of `outdir` from scratch (cdk8s synth deletes it too)."""
    check_config(config)
    if outdir.exists():
        shutil.rmtree(outdir)
    build_app(config, outdir).synth()
    # Importable copies for Grafana instances outside the cluster.
    dashboards_dir = outdir / DASHBOARDS_SUBDIR
    dashboards_dir.mkdir()
    for name, text in sorted(dashboards_json(config).items()):
        (dashboards_dir / name).write_text(text)


def default_outdir() -> Path:
    # The cdk8s CLI passes its `output` (cdk8s.yaml) in CDK8S_OUTDIR.
    return Path(os.environ.get("CDK8S_OUTDIR") or ROOT / "dist")


def main() -> int:
    try:
        config = load_config()
        synthesize(config, default_outdir())
    except ConfigError as exc:
        print(f"synth: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
