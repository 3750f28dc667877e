"""Runtime settings of order-api, read once from the environment at start-up.

Invalid values stop start-up (see `__main__`) instead of being silently
clamped: a canary with a mistyped fault rate must not look healthy.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from order_api import __version__

# Every variable order-api reads starts with this; the bench and the
# rehearsal import these names instead of spelling them again.
VARIABLE_PREFIX = "ORDER_API_"
ENV_VERSION = "ORDER_API_VERSION"
ENV_FAULT_ERROR_RATE = "ORDER_API_FAULT_ERROR_RATE"
ENV_FAULT_DELAY_MS = "ORDER_API_FAULT_DELAY_MS"
ENV_SHUTDOWN_DELAY_S = "ORDER_API_SHUTDOWN_DELAY_S"
ENV_DRAIN_TIMEOUT_S = "ORDER_API_DRAIN_TIMEOUT_S"
ENV_HEAD_TIMEOUT_S = "ORDER_API_HEAD_TIMEOUT_S"
ENV_MAX_CONNECTIONS = "ORDER_API_MAX_CONNECTIONS"
ENV_RESPONSE_TIMEOUT_S = "ORDER_API_RESPONSE_TIMEOUT_S"
ENV_BENCH_BARE = "ORDER_API_BENCH_BARE"

# The version travels in an HTTP header and a metric label: one printable
# token. Any container image tag qualifies (the deployment passes the tag),
# plus "+" for semver build metadata.
_VERSION_RE = re.compile(r"[0-9A-Za-z_][0-9A-Za-z_.+-]{0,127}")


T = TypeVar("T")


class SettingsError(ValueError):
    """An environment variable holds a value order-api cannot run with."""


@dataclass(frozen=True, slots=True)
class Settings:
    version: str = __version__
    fault_error_rate: float = 0.0
    fault_delay_ms: float = 0.0
    shutdown_delay_s: float = 5.0
    # How long in-flight requests may take once the server stopped accepting;
    # the pod's terminationGracePeriodSeconds covers the delay plus this.
    drain_timeout_s: float = 15.0
    # Adds the uninstrumented POST /bench/bare used only by `make bench`.
    bench_bare: bool = False
    # The whole request head (request line and headers) must arrive within this.
    head_timeout_s: float = 10.0
    # Connections served at once; the first request on one over the cap gets 503.
    max_connections: int = 1000
    # A handler still running after this is answered 503 (Sanic's RESPONSE_TIMEOUT).
    response_timeout_s: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; an unset or empty variable keeps its default."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            version=_read(env, ENV_VERSION, _parse_version, defaults.version),
            fault_error_rate=_read(
                env, ENV_FAULT_ERROR_RATE, _parse_fraction, defaults.fault_error_rate
            ),
            fault_delay_ms=_read(
                env, ENV_FAULT_DELAY_MS, _parse_non_negative, defaults.fault_delay_ms
            ),
            shutdown_delay_s=_read(
                env, ENV_SHUTDOWN_DELAY_S, _parse_non_negative, defaults.shutdown_delay_s
            ),
            drain_timeout_s=_read(
                env, ENV_DRAIN_TIMEOUT_S, _parse_non_negative, defaults.drain_timeout_s
            ),
            head_timeout_s=_read(env, ENV_HEAD_TIMEOUT_S, _parse_positive, defaults.head_timeout_s),
            max_connections=_read(env, ENV_MAX_CONNECTIONS, _parse_count, defaults.max_connections),
            response_timeout_s=_read(
                env, ENV_RESPONSE_TIMEOUT_S, _parse_positive, defaults.response_timeout_s
            ),
            bench_bare=_read(env, ENV_BENCH_BARE, _parse_flag, defaults.bench_bare),
        )


def _read(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as error:
        raise SettingsError(f"invalid {name}={raw!r}: {error}") from None


def _parse_version(raw: str) -> str:
    if not _VERSION_RE.fullmatch(raw):
        raise ValueError("must be 1-128 characters of letters, digits and _ . + -")
    return raw


def _parse_number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _parse_fraction(raw: str) -> float:
    value = _parse_number(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError("must be between 0 and 1")
    return value


def _parse_non_negative(raw: str) -> float:
    value = _parse_number(raw)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _parse_positive(raw: str) -> float:
    value = _parse_number(raw)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


def _parse_count(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ValueError("must be a whole number >= 1")
    return int(raw)


def _parse_flag(raw: str) -> bool:
    if raw not in {"0", "1"}:
        raise ValueError("must be 0 or 1")
    return raw == "1"
