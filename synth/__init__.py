"""cdk8s constructs that synthesize the whole order-api stack into dist/."""

import os
from pathlib import Path

# cdk8s runs on jsii, which starts `node` from PATH when cdk8s is imported.
# Prefer the project's pinned Node 22 (node_modules/.bin, as `make` and the
# tests do), so `python -m synth.main` never runs on an end-of-life system Node.
_NODE_BIN = Path(__file__).resolve().parent.parent / "node_modules" / ".bin"
_PATH = os.environ.get("PATH", "")
if (_NODE_BIN / "node").exists() and not _PATH.startswith(str(_NODE_BIN)):
    os.environ["PATH"] = os.pathsep.join([str(_NODE_BIN), _PATH])
