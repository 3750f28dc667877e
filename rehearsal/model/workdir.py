"""The rehearsal's temporary folder, and the folders of runs that died.

Each run writes its pid and the process start time into its folder. A run
killed with SIGKILL cannot remove its folder (its children die with it, see
rehearsal.model.child_processes); the next run removes every folder whose owner is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "rehearsal-"
OWNER_FILE = "owner"
# A folder without an owner file younger than this may be a run starting now.
UNOWNED_GRACE_S = 60.0


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (/proc/<pid>/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_alive(folder: Path) -> bool:
    try:
        pid_text, started = (folder / OWNER_FILE).read_text().split()
    except (OSError, ValueError):
        age = time.time() - folder.stat().st_mtime
        return age < UNOWNED_GRACE_S
    return _start_time(int(pid_text)) == started


def clean_stale(root: Path | None = None) -> list[Path]:
    """Remove the folders of rehearsals that are no longer running; returns them."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{PREFIX}*"):
        try:
            if not folder.is_dir() or _owner_alive(folder):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def make_workdir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    pid = os.getpid()
    (folder / OWNER_FILE).write_text(f"{pid} {_start_time(pid) or 0}\n")
    return folder
