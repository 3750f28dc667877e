"""Pod-template annotations that roll a Deployment when its mounted config changes."""

from __future__ import annotations

import hashlib

ANNOTATION = "checksum/config"


def config_checksum(*texts: str) -> dict[str, str]:
    """A ConfigMap change alone restarts nothing; a changed pod template does."""
    return {ANNOTATION: hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]}
