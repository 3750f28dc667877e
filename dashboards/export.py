"""Render the dashboards to stable JSON; `python -m dashboards.export` writes them.

`dashboards_json(config)` is the one source: synth embeds exactly this text in
the Grafana dashboards ConfigMap and writes it to dist/dashboards/, and this
CLI writes the same files there for users who import them by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from dashboards import canary_dashboard
from dashboards.grafana_model import current_model
from stack.config import ConfigError, StackConfig, load_config

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "dist" / "dashboards"

# Each dashboard is written as `<uid>.json`.
DASHBOARDS: tuple[Callable[[StackConfig], g.Dashboard], ...] = (canary_dashboard.dashboard,)


def to_json(dashboard: g.Dashboard) -> str:
    """Byte-stable JSON in Grafana's current model: sorted keys, fixed uid, trailing newline."""
    # grafanalib's encoder first: it turns its nested objects into plain data.
    plain = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    return json.dumps(current_model(plain), sort_keys=True, indent=2) + "\n"


def dashboards_json(config: StackConfig) -> dict[str, str]:
    """File name -> dashboard JSON text."""
    built = [build(config) for build in DASHBOARDS]
    return {f"{d.uid}.json": to_json(d) for d in built}


def write(config: StackConfig, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in dashboards_json(config).items():
        path = out_dir / name
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.export", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=OUT_DIR, help="folder to write to (default: dist/dashboards)"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"dashboards: bad configuration: {exc}", file=sys.stderr)
        return 2
    try:
        paths = write(config, args.out)
    except OSError as exc:
        print(f"dashboards: cannot write to {args.out}: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
