"""The cdk8s app: `cdk8s synth` (via cdk8s.yaml) or `python -m synth.main`.

Both write the same dist/: one YAML file per chart at the top level, prefixed
so that `kubectl apply -f dist/` (lexical order, no -R) creates the Namespace
first, and non-manifest copies (dashboard JSON) in subfolders kubectl skips.

The output folder is replaced only once the whole stack has synthesized: a bad
configuration or a failing construct leaves the previous dist/ as it was.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from stack.config import VALUES_ENV, ConfigError, StackConfig, load_config
from stack.validation import check_config
from synth.node_runtime import use_project_node

if TYPE_CHECKING:
    import cdk8s

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "dist"
# The committed settings dist/ is synthesized from (the drift test reads it too).
DEFAULT_VALUES = ROOT / "values.yaml"
MANIFEST_SUFFIX = ".k8s.yaml"
DASHBOARDS_SUBDIR = "dashboards"
# The cdk8s CLI empties its output folder before it runs the app, and names it
# in CDK8S_OUTDIR. cdk8s.yaml points it at a scratch folder, so that a failing
# `cdk8s synth` leaves dist/ alone; the app then writes dist/ (and a copy into
# the scratch folder for the CLI's listing).
CLI_OUTDIR_ENV = "CDK8S_OUTDIR"
CLI_SCRATCH = ROOT / "build" / "cdk8s"


def build_app(config: StackConfig, outdir: Path) -> cdk8s.App:
    """One chart per concern; chart ids become the file names in apply order."""
    # Every caller (this CLI, the rehearsal, the tests) synthesizes through here.
    use_project_node()
    # Imported here: loading jsii costs a second that --help and --check need not pay.
    import cdk8s

    from synth.charts.alertmanager import AlertmanagerChart
    from synth.charts.canary import CanaryChart
    from synth.charts.grafana import GrafanaChart
    from synth.charts.ingress import IngressChart
    from synth.charts.k3s_traefik import K3sTraefikChart
    from synth.charts.monitors import MonitorsChart
    from synth.charts.namespace import NamespaceChart
    from synth.charts.network_policies import NetworkPoliciesChart
    from synth.charts.order_api import OrderApiChart
    from synth.charts.prometheus import PrometheusChart

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
    if config.ingress.k3s_traefik_config:
        K3sTraefikChart(app, "45-k3s-traefik", config=config)
    if config.bundled_monitoring:
        PrometheusChart(app, "50-prometheus", config=config)
        AlertmanagerChart(app, "55-alertmanager", config=config)
        GrafanaChart(app, "60-grafana", config=config)
    else:
        MonitorsChart(app, "50-monitors", config=config)
    return app


def _write_stack(config: StackConfig, outdir: Path) -> None:
    """Synthesize every chart and the dashboard copies into an empty `outdir`."""
    from dashboards.export import dashboards_json

    build_app(config, outdir).synth()
    # Importable copies for Grafana instances outside the cluster.
    dashboards_dir = outdir / DASHBOARDS_SUBDIR
    dashboards_dir.mkdir()
    for name, text in sorted(dashboards_json(config).items()):
        (dashboards_dir / name).write_text(text)


def _replace_dir(new: Path, target: Path) -> None:
    """Put `new` in place of `target` by renames on one filesystem."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    try:
        new.rename(target)
    except OSError:
        if old.exists():
            old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def synthesize(config: StackConfig, outdir: Path) -> None:
    """Write the whole of `outdir` anew; on any error it keeps its old content."""
    check_config(config)
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.new-", dir=outdir.parent))
    try:
        _write_stack(config, staging)
        _replace_dir(staging, outdir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _print_config(config: StackConfig) -> None:
    yaml.safe_dump(dataclasses.asdict(config), sys.stdout, sort_keys=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synth.main",
        description="Synthesize the order-api stack (Kubernetes, Flagger, Traefik, Prometheus, "
        "Grafana) into one folder for `kubectl apply -f`.",
        epilog="Settings come from the defaults, a values file (values.yaml unless --values or "
        f"{VALUES_ENV} names another) and ORDER_API_SRE_<SECTION>__<FIELD> variables; every key "
        "is in docs/configuration.md. Exit status: 0 written, 2 bad configuration or output "
        "folder (the old output is kept).",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="folder to write (default: dist/, or the cdk8s CLI's output folder)",
    )
    parser.add_argument(
        "--values",
        type=Path,
        help=f"values file (default: ${VALUES_ENV} when set, else values.yaml at the root)",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective configuration as YAML and write nothing",
    )
    what.add_argument(
        "--check", action="store_true", help="validate the configuration and write nothing"
    )
    return parser


def _output(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """(folder to write, folder the cdk8s CLI expects a copy in, if run by it)."""
    if args.output is not None:
        return args.output, None
    cli_outdir = os.environ.get(CLI_OUTDIR_ENV)
    if not cli_outdir:
        return DEFAULT_OUTPUT, None
    if Path(cli_outdir).resolve() == CLI_SCRATCH:
        return DEFAULT_OUTPUT, CLI_SCRATCH
    # `cdk8s synth --output DIR`: the CLI emptied DIR already; write it directly.
    return Path(cli_outdir), None


def values_file(args: argparse.Namespace) -> Path | None:
    """--values, else the environment's values file, else the committed values.yaml."""
    if args.values is not None:
        return args.values
    return None if os.environ.get(VALUES_ENV) else DEFAULT_VALUES


def run(args: argparse.Namespace) -> int:
    config = load_config(values_file=values_file(args))
    if args.print_config:
        _print_config(config)
        return 0
    check_config(config)
    if args.check:
        print("synth: configuration is valid", file=sys.stderr)
        return 0
    output, cli_outdir = _output(args)
    synthesize(config, output)
    if cli_outdir is not None:
        # The CLI lists what it finds in its own output folder; give it the same files.
        shutil.copytree(output, cli_outdir, dirs_exist_ok=True)
    for path in sorted(output.glob(f"*{MANIFEST_SUFFIX}")) + sorted(
        (output / DASHBOARDS_SUBDIR).iterdir()
    ):
        print(f"  - {_shown(path)}")
    print(f"synth: wrote {_shown(output)}/", file=sys.stderr)
    return 0


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    use_project_node()
    try:
        return run(args)
    except ConfigError as exc:
        print(f"synth: configuration error: {exc}", file=sys.stderr)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"synth: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
