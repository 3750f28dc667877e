"""The Go command: found once, checked for the minimum version, run without surprises."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from toolchain import versions
from toolchain.toolchain_error import ToolchainError

# Where the official Go archive installs itself, for shells without it on PATH.
_GO_FALLBACK = Path("/usr/local/go/bin/go")


@functools.cache
def go_binary() -> str:
    """The `go` command, at least versions.GO_MINIMUM; a clear error otherwise."""
    found = shutil.which("go") or (str(_GO_FALLBACK) if _GO_FALLBACK.is_file() else None)
    wanted = ".".join(map(str, versions.GO_MINIMUM))
    if not found:
        raise ToolchainError(
            f"Go >= {wanted} is needed to build the toolchain and read the CRDs, "
            "and `go` is not on PATH: install Go (see README, Quick start)"
        )
    out = subprocess.run([found, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    match = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if not match or (int(match[1]), int(match[2])) < versions.GO_MINIMUM:
        raise ToolchainError(
            f"{found} is {out.stdout.strip() or 'unusable'}; Go >= {wanted} needed"
        )
    return found


def go_env() -> dict[str, str]:
    """The environment for every go command: no workspace, no toolchain download, no cgo."""
    env = dict(os.environ)
    env.update(GOWORK="off", GOTOOLCHAIN="local", CGO_ENABLED="0")
    return env


def run_go(args: list[str], cwd: Path | None = None) -> str:
    """Run `go args...` and return stdout; a ToolchainError with go's message on failure."""
    where = cwd or Path(tempfile.gettempdir())
    proc = subprocess.run(
        [go_binary(), *args], cwd=where, env=go_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ToolchainError(f"go {' '.join(args[:3])} failed: " + " | ".join(detail))
    return proc.stdout


@functools.cache
def download(module: str, version: str) -> dict[str, Any]:
    """`go mod download -json module@version`: its Dir, GoMod, Info paths (cached by Go)."""
    out = run_go(["mod", "download", "-json", f"{module}@{version}"])
    info: dict[str, Any] = json.loads(out)
    if info.get("Error"):
        raise ToolchainError(f"{module}@{version}: {info['Error']}")
    return info


def module_file(module: str, version: str) -> dict[str, Any]:
    """The module's go.mod as `go mod edit -json` sees it (Go, Godebug, Replace, Exclude)."""
    gomod = download(module, version)["GoMod"]
    parsed: dict[str, Any] = json.loads(run_go(["mod", "edit", "-json", gomod]))
    return parsed


def release_time(module: str, version: str) -> str:
    """When the version was published (RFC 3339), from the proxy's .info file."""
    info = json.loads(Path(download(module, version)["Info"]).read_text())
    return str(info["Time"])
