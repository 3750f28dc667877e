"""python -m toolchain build [NAMES...] | path NAME | bin-dirs | list | crds"""

from __future__ import annotations

import argparse
import os
import sys
import time

from toolchain import crds
from toolchain.build import MAX_JOBS, build
from toolchain.cache import bin_dirs, bin_path, cache_root, component_dir, is_built
from toolchain.components import COMPONENTS, select
from toolchain.toolchain_error import ToolchainError


def _say(line: str) -> None:
    print(line, flush=True)


def _build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    results = build(select(args.names), jobs=args.jobs, say=_say)
    built = [name for name, seconds in results.items() if seconds is not None]
    total = time.monotonic() - started
    _say(f"toolchain: {len(results)} components ready, {len(built)} built, in {total:.1f} s")
    return 0


def _path(args: argparse.Namespace) -> int:
    print(bin_path(args.name))
    return 0


def _bin_dirs(args: argparse.Namespace) -> int:
    print(os.pathsep.join(str(d) for d in bin_dirs()))
    return 0


def _list(args: argparse.Namespace) -> int:
    print(f"cache: {cache_root()}")
    name_w = max(len(c.name) for c in COMPONENTS)
    version_w = max(len(c.version) for c in COMPONENTS)
    for c in COMPONENTS:
        state = "built" if is_built(c) else "missing"
        print(f"{c.name:<{name_w}} {c.version:<{version_w}} {state:<8} {', '.join(c.binaries)}")
        if args.verbose and is_built(c):
            print(f"{'':<{name_w}} {component_dir(c)}")
    return 0


def _crds(args: argparse.Namespace) -> int:
    for path in crds.crd_files():
        print(path)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m toolchain", description="The pinned upstream toolchain."
    )
    sub = top.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build what is not cached yet")
    b.add_argument("names", nargs="*", help="components or binaries (default: all)")
    b.add_argument("-j", "--jobs", type=int, default=MAX_JOBS, help="parallel go builds (max 2)")
    b.set_defaults(run=_build)
    p = sub.add_parser("path", help="print the path of a binary")
    p.add_argument("name")
    p.set_defaults(run=_path)
    d = sub.add_parser("bin-dirs", help="print the bin folders, joined for PATH")
    d.set_defaults(run=_bin_dirs)
    ls = sub.add_parser("list", help="components, versions and whether they are built")
    ls.add_argument("-v", "--verbose", action="store_true", help="also print their folders")
    ls.set_defaults(run=_list)
    c = sub.add_parser("crds", help="print the CRD files (from the pinned Go modules)")
    c.set_defaults(run=_crds)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ToolchainError, ValueError) as error:
        print(f"toolchain: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("toolchain: interrupted; nothing half-built was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
