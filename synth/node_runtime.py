"""The Node.js that jsii (under cdk8s) runs: the project's pinned Node 22.

jsii starts `node` from PATH when cdk8s is first imported. `use_project_node()`
puts node_modules/.bin first, as `make` and the tests do, so a synthesis never
runs on an end-of-life system Node. It is an explicit call, not an import
effect: the entry points make it before cdk8s loads.
"""

from __future__ import annotations

import os
from pathlib import Path

NODE_BIN = Path(__file__).resolve().parent.parent / "node_modules" / ".bin"


def use_project_node() -> None:
    """Prepend node_modules/.bin to PATH, once, when `npm ci` has installed Node there."""
    path = os.environ.get("PATH", "")
    if (NODE_BIN / "node").exists() and not path.startswith(str(NODE_BIN)):
        os.environ["PATH"] = os.pathsep.join([str(NODE_BIN), path])
