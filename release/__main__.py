"""`python -m release image|push|release`: the make targets of the same names.

image    build service/Dockerfile as <registry>/<repository>:<tag> (from the
         values file and environment) and print the reference;
push     push that reference with the user's existing registry login;
release  --tag X.Y.Z: build the image with that tag, write the tag into the
         values file, synthesize, and print the apply/import and watch commands.
Exit status: 0 done, 2 bad input or a failed step (files are left as they were).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from release import image
from release.engine import CONTAINERS_DIR, ROOT, Engine, find_engine
from release.errors import ReleaseError
from release.values_tag import write_tag
from stack.config import ConfigError, StackConfig, load_config
from stack.names import app_names
from stack.validation import check_config

DEFAULT_VALUES = ROOT / "values.yaml"
IMAGES_DIR = CONTAINERS_DIR.parent / "images"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m release", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["image", "push", "release"])
    parser.add_argument("--values", type=Path, default=DEFAULT_VALUES, help="values file")
    parser.add_argument("--output", type=Path, default=ROOT / "dist", help="release: folder")
    parser.add_argument("--tag", help="release: the image tag to build and release (x.y.z)")
    return parser


def _config(values: Path, tag: str | None) -> StackConfig:
    config = load_config(values_file=values)
    if tag is not None:
        config = dataclasses.replace(config, app=dataclasses.replace(config.app, image_tag=tag))
    check_config(config)
    return config


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _tool_command(engine: Engine) -> str:
    """The tool as the user types it (buildah with the project's storage flags)."""
    return " ".join([Path(engine.argv[0]).name, *(_shown(Path(a)) if "/" in a else a
                                                    for a in engine.argv[1:])])  # fmt: skip


def _next_steps(engine: Engine, config: StackConfig, local: str, output: Path) -> str:
    names = app_names(config)
    app, ns = config.app, config.namespace
    archive = IMAGES_DIR / f"{app.image_repository.replace('/', '-')}-{app.image_tag}.tar"
    return "\n".join([
        "", "Ship the image (one of):",
        "  make push                      # to app.image_registry, with your login",
        "  # k3s without a registry, on every node:",
        f"  mkdir -p {_shown(IMAGES_DIR)} && {_tool_command(engine)} push {local} "
        f"docker-archive:{_shown(archive)}:{app.image}",
        f"  sudo k3s ctr images import {_shown(archive)}",
        "Apply and watch the canary:",
        f"  kubectl apply -f {_shown(output)}/",
        f"  kubectl -n {ns} get canary {names.name} --watch",
        f"  kubectl -n {ns} describe canary {names.name}",
    ])  # fmt: skip


def _release(args: argparse.Namespace) -> int:
    from synth.main import synthesize

    if not args.tag:
        raise ReleaseError("release needs a tag: make release TAG=x.y.z")
    config = _config(args.values, args.tag)
    engine = find_engine()
    reference = config.app.image
    for note in image.build(engine, reference):
        print(f"release: {note}", file=sys.stderr)
    write_tag(args.values, args.tag)
    synthesize(load_config(values_file=args.values), args.output)
    print(f"release: {_shown(args.values)} app.image_tag = {args.tag}; "
          f"synthesized {_shown(args.output)}/", file=sys.stderr)  # fmt: skip
    print(image.local_reference(engine, reference))
    print(_next_steps(engine, config, image.local_reference(engine, reference), args.output),
          file=sys.stderr)  # fmt: skip
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "release":
        return _release(args)
    reference = _config(args.values, None).app.image
    engine = find_engine()
    if args.command == "image":
        for note in image.build(engine, reference):
            print(f"image: {note}", file=sys.stderr)
        print(image.local_reference(engine, reference))
        return 0
    local = image.local_reference(engine, reference)
    image.require_image(engine, local)
    image.push(engine, local, reference)
    print(reference)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except ConfigError as exc:
        print(f"release: configuration error: {exc}", file=sys.stderr)
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"release: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
