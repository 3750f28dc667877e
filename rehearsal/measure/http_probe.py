"""HTTP polling of the local components (stdlib only, loopback only)."""

from __future__ import annotations

import urllib.error
import urllib.request


def http_get(url: str, *, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET `url`; returns (status, body) for any HTTP answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
