"""The one error of the release path: a message for the user, exit status 2."""

from __future__ import annotations


class ReleaseError(RuntimeError):
    """A step of the release path failed; the message says which and why."""
