"""Why a rehearsal stops without a verdict, whichever engine runs it."""

from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class ComponentError(RuntimeError):
    """A component is missing, failed to start or answered badly (the message names it)."""


class Interrupted(Exception):
    """SIGINT, SIGTERM or SIGHUP: stop everything and leave."""


class CannotRun(Exception):
    """The rehearsal could not run (exit 2); the message is what the user reads."""


def ignore_stop_signals() -> None:
    """From here on a second signal must not leave processes or files behind."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
