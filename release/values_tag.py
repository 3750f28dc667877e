"""Write a release's tag into a values file, keeping its comments and layout.

Only the `image_tag:` line under `app:` changes (or one is added there); the
result is re-read and must give exactly the new tag, and the file is replaced
by a rename, so a failure leaves it as it was.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import yaml

from release.errors import ReleaseError

_SECTION = re.compile(r"^app:\s*(#.*)?$")
_TOP_LEVEL = re.compile(r"^\S")
_TAG_LINE = re.compile(r"^(?P<indent>\s+)image_tag:(?P<space>\s*)(?P<value>[^#\s]*)(?P<rest>.*)$")


def _scalar(tag: str) -> str:
    """The tag as YAML that reads back as that string ("1.10" would read as 1.1)."""
    return tag if isinstance(yaml.safe_load(tag), str) else json.dumps(tag)


def with_tag(text: str, tag: str) -> str:
    """`text` with app.image_tag set to `tag`."""
    tag = _scalar(tag)
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _SECTION.match(line)), None)
    if start is None and any(line.startswith("app:") for line in lines):
        raise ReleaseError("could not set app.image_tag: the app section is not in block style")
    if start is None:
        separator = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{separator}app:\n  image_tag: {tag}\n"
    end = next((i for i in range(start + 1, len(lines)) if _TOP_LEVEL.match(lines[i])), len(lines))
    for i in range(start + 1, end):
        match = _TAG_LINE.match(lines[i])
        if match:
            newline = "\n" if lines[i].endswith("\n") else ""
            rest = match["rest"].rstrip("\n")
            lines[i] = f"{match['indent']}image_tag:{match['space'] or ' '}{tag}{rest}{newline}"
            return "".join(lines)
    lines.insert(start + 1, f"  image_tag: {tag}\n")
    return "".join(lines)


def write_tag(path: Path, tag: str) -> None:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReleaseError(f"{path}: cannot read the values file: {exc.strerror}") from None
    updated = with_tag(text, tag)
    try:
        loaded = yaml.safe_load(updated) or {}
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{path}: not YAML after setting app.image_tag: {exc}") from None
    if str((loaded.get("app") or {}).get("image_tag")) != tag:
        raise ReleaseError(f"{path}: could not set app.image_tag to {tag!r} (flow-style app?)")
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        out.write(updated)
    os.chmod(staging, path.stat().st_mode & 0o777)
    os.replace(staging, path)
