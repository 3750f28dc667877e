"""The generated wrapper Go module of a component.

Generated from versions.py rather than committed, so a pin lives in one place.
The wrapper copies what `go build` of a dependency would otherwise ignore from
the primary module's go.mod: its go and godebug lines (runtime defaults), its
exclude directives (Prometheus), and its local staging replaces mapped to the
published versions (Kubernetes).
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any

from toolchain.components import Component
from toolchain.gotool import download, module_file

MODULE_PREFIX = "order-api-sre/toolchain/"
# Where a component with embed_stubs gets its copy of the primary module.
UPSTREAM_COPY = "upstream"
EMBED_STUB = (
    "<!doctype html><title>Web UI not built</title>"
    "<p>This binary was built from the Go module, which does not ship the web UI.\n"
)


def _version_key(go: str) -> tuple[int, ...]:
    return tuple(int(part) for part in go.split(".") if part.isdigit())


def _staging_replaces(primary: dict[str, Any], version: str) -> list[str]:
    """Every `X => ./staging/src/X` of the primary module, as `X => X version`."""
    lines = []
    for rep in primary.get("Replace") or []:
        old, new = rep["Old"]["Path"], rep["New"]["Path"]
        if new.startswith("./staging/"):
            lines.append(f"\t{old} => {old} {version}")
    if not lines:
        raise ValueError("the primary module has no ./staging replaces to map")
    return lines


def gomod_text(component: Component) -> str:
    files = [module_file(module, version) for module, version in component.requires]
    primary = files[0]
    go = max((f.get("Go") or "1.21" for f in files), key=_version_key)
    out = [f"module {MODULE_PREFIX}{component.name}", "", f"go {go}", ""]
    out += [f"godebug {g['Key']}={g['Value']}" for g in primary.get("GoDebug") or []]
    out += ["", "require ("]
    out += [f"\t{module} {version}" for module, version in component.requires]
    out += [")", ""]
    if component.staging_version:
        out += ["replace (", *_staging_replaces(primary, component.staging_version), ")", ""]
    if component.embed_stubs:
        out += [f"replace {component.primary[0]} => ./{UPSTREAM_COPY}", ""]
    excludes = primary.get("Exclude") or []
    if excludes:
        out += ["exclude ("]
        out += [f"\t{e['Path']} {e['Version']}" for e in excludes]
        out += [")", ""]
    return "\n".join(out)


def tools_go_text(component: Component) -> str:
    # The classic tools.go: the build tag keeps it out of builds, while
    # `go mod tidy` still records every module the main packages need.
    imports = "\n".join(f'\t_ "{pkg}"' for pkg in sorted(component.binaries.values()))
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def _copy_with_stubs(component: Component, folder: Path) -> None:
    """A writable copy of the primary module with the stub files it embeds."""
    target = folder / UPSTREAM_COPY
    shutil.copytree(download(*component.primary)["Dir"], target)
    # The module cache is read-only; the copy must not be.
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    for stub in component.embed_stubs:
        (target / stub).parent.mkdir(parents=True, exist_ok=True)
        (target / stub).write_text(EMBED_STUB)


def write_wrapper(component: Component, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if component.embed_stubs:
        _copy_with_stubs(component, folder)
    (folder / "go.mod").write_text(gomod_text(component))
    (folder / "tools.go").write_text(tools_go_text(component))
