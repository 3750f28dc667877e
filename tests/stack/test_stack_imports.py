"""stack/ is the bottom layer: importing it loads nothing from the packages above it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ABOVE = ("toolchain", "synth", "dashboards", "rehearsal", "cluster")


def test_stack_imports_nothing_above_it() -> None:
    modules = sorted(p.stem for p in (ROOT / "stack").glob("*.py") if p.stem != "__init__")
    script = (
        "import sys\n"
        + "".join(f"import stack.{m}\n" for m in modules)
        + f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({ABOVE!r})))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert len(modules) >= 4, modules
    assert run.stdout.strip() == "[]", run.stdout
