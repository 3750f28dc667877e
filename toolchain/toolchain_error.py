"""The one exception the toolchain raises for anything a user can fix."""

from __future__ import annotations


class ToolchainError(Exception):
    """A missing tool, an unusable Go, a failed build: the message says what to do."""
