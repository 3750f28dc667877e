"""python -m cluster up | status | kubectl ARGS... | shell | down"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from cluster import chart_render, lifecycle, netns
from cluster.client import KubectlError, kubectl_argv
from cluster.layout import paths


def _say(line: str) -> None:
    print(line, flush=True)


def _exec(argv: list[str], env: dict[str, str] | None = None) -> int:
    if not netns.exists():
        print("cluster: not running (python -m cluster up)", file=sys.stderr)
        return 1
    os.execvpe(argv[0], argv, {**os.environ, **(env or {})})


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m cluster", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the cluster, install Traefik and Flagger, apply dist/")
    up.add_argument("--timeout", type=float, default=240, help="seconds to wait for the Canary")
    up.add_argument(
        "--values",
        type=Path,
        help="a values file (values/k3s.yaml): synthesized into the run directory and "
        "applied instead of dist/",
    )
    sub.add_parser("status", help="nodes, pods and the Canary")
    sub.add_parser("down", help="stop everything and remove every trace")
    sub.add_parser("shell", help="a shell inside the cluster's network namespace, KUBECONFIG set")
    kc = sub.add_parser("kubectl", help="kubectl inside the namespace", add_help=False)
    kc.add_argument("args", nargs=argparse.REMAINDER)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kubectl"]:  # everything after it is kubectl's, options included
        return _exec(kubectl_argv(*argv[1:]))
    args = top.parse_args(argv)
    # SIGTERM (timeout, CI) stops `up` like Ctrl-C: through its clean-up.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.command == "up":
            lifecycle.up(_say, timeout=args.timeout, values_file=args.values)
            return 0
        if args.command == "down":
            lifecycle.down(_say)
            return 0
        if args.command == "status":
            return lifecycle.status(_say)
        from toolchain import bin_dirs

        path = os.pathsep.join([*(str(d) for d in bin_dirs()), os.environ.get("PATH", "")])
        shell = os.environ.get("SHELL", "/bin/bash")
        return _exec(netns.inside([shell]), {"KUBECONFIG": str(paths().kubeconfig), "PATH": path})
    except (lifecycle.ClusterError, chart_render.ChartError, KubectlError) as error:
        print(f"cluster: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cluster: interrupted, everything stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
