"""Canary variants for the rehearsal tests: dist/ copied to a folder and edited.

- `gapped`: load only from the rollout webhook, `hey -z <interval>` (the Canary
  before issue 8's fix): every other analysis window has no load;
- `continuous`: the same hey command with a duration that outlasts the whole
  analysis ((1 + steps + threshold + 2) x interval), called by a pre-rollout
  webhook `load-test-start` after the acceptance test and by the rollout
  webhook, which the loadtester then drops while it runs (the fix).
Both are built from whatever dist/ holds, so they stay valid after the merge.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from rehearsal.spec.duration_text import parse_duration

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
CANARY_FILE = "30-canary.k8s.yaml"
LOAD_START = "load-test-start"


def _docs(folder: Path) -> list[Any]:
    return list(yaml.safe_load_all((folder / CANARY_FILE).read_text()))


def _canary(docs: list[Any]) -> dict[str, Any]:
    return next(d for d in docs if d and d.get("kind") == "Canary")


def _with_duration(cmd: str, duration: str) -> str:
    return re.sub(r"-z\s+\S+", f"-z {duration}", cmd)


def _rollout_load(hooks: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        h
        for h in hooks
        if h.get("type", "rollout") == "rollout"
        and str(h.get("metadata", {}).get("cmd", "")).startswith("hey ")
    )


def variant(tmp: Path, kind: str, **analysis: Any) -> Path:
    """A copy of dist/ in `tmp/kind` whose Canary loads as `kind` says."""
    out = tmp / kind
    shutil.copytree(DIST, out)
    docs = _docs(out)
    spec = _canary(docs)["spec"]["analysis"]
    spec.update(analysis)
    hooks = spec["webhooks"]
    load = _rollout_load(hooks)
    interval_s = parse_duration(spec["interval"])
    hooks[:] = [h for h in hooks if h.get("name") != LOAD_START]
    if kind == "gapped":
        load["metadata"]["cmd"] = _with_duration(load["metadata"]["cmd"], f"{interval_s:g}s")
    elif kind == "continuous":
        steps = -(-spec["maxWeight"] // spec["stepWeight"])
        outlast = (1 + steps + spec["threshold"] + 2) * interval_s
        load["metadata"]["cmd"] = _with_duration(load["metadata"]["cmd"], f"{outlast:g}s")
        start = {**load, "name": LOAD_START, "type": "pre-rollout"}
        acceptance = max(i for i, h in enumerate(hooks) if h.get("type") == "pre-rollout")
        hooks.insert(acceptance + 1, start)
    else:
        raise ValueError(kind)
    (out / CANARY_FILE).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return out
