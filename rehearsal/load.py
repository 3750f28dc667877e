"""A steady stream of valid orders through Traefik, every response counted.

Plays the Canary's rollout load-test webhook: Flagger's built-in checks read
Traefik's metrics, which only see traffic that enters through Traefik with the
IngressRoute's host. A pacer thread releases one token per request at the
configured rate into a bounded queue; a fixed pool of workers sends them. When
every worker is busy and the queue is full, the token is counted as skipped
instead of piling up, so a slow canary cannot make the generator grow without
bound.
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from order_api import telemetry

CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class LoadCounts:
    """Responses so far, by status code and by serving version."""

    sent: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_version: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # no HTTP answer, by exception
    skipped: int = 0  # tokens dropped because every worker was busy

    @property
    def failed(self) -> int:
        """Requests a client would call failed: no answer, or a 5xx."""
        server_errors = sum(n for code, n in self.by_status.items() if code.startswith("5"))
        return server_errors + sum(self.errors.values())

    def minus(self, earlier: LoadCounts) -> LoadCounts:
        """The counts between `earlier` and this snapshot."""

        def diff(now: dict[str, int], then: dict[str, int]) -> dict[str, int]:
            return {k: v - then.get(k, 0) for k, v in now.items() if v - then.get(k, 0)}

        return LoadCounts(
            sent=self.sent - earlier.sent,
            by_status=diff(self.by_status, earlier.by_status),
            by_version=diff(self.by_version, earlier.by_version),
            errors=diff(self.errors, earlier.errors),
            skipped=self.skipped - earlier.skipped,
        )


class LoadGenerator:
    """POSTs `body` to `url` + ORDER_PATH with `Host: host` at `rate` per second."""

    def __init__(
        self,
        *,
        url: str,
        host: str,
        rate: float,
        body: str,
        path: str = telemetry.ORDER_PATH,
        workers: int = 32,
        timeout_s: float = 10.0,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"load rate must be > 0, got {rate}")
        parts = urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._host, self._rate, self._body, self._path = host, rate, body.encode(), path
        self._timeout = timeout_s
        self._tokens: queue.Queue[bool] = queue.Queue(maxsize=workers * 2)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._status: Counter[str] = Counter()
        self._version: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._sent = 0
        self._skipped = 0
        # Requests SENT after watch() was called, counted apart: a response
        # that arrives late belongs to the routing in force when it was sent.
        self._watch_from = float("inf")
        self._watched_versions: Counter[str] = Counter()
        self._watched_errors: Counter[str] = Counter()
        self._threads = [
            threading.Thread(target=self._work, name=f"load-{i}", daemon=True)
            for i in range(workers)
        ]
        self._threads.append(threading.Thread(target=self._pace, name="load-pacer", daemon=True))

    def start(self) -> LoadGenerator:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> LoadCounts:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self._timeout + 1)
        return self.snapshot()

    def snapshot(self) -> LoadCounts:
        with self._lock:
            return LoadCounts(
                sent=self._sent,
                by_status=dict(self._status),
                by_version=dict(self._version),
                errors=dict(self._errors),
                skipped=self._skipped,
            )

    def watch(self) -> None:
        """Start counting, by version, the requests sent from now on."""
        with self._lock:
            self._watch_from = time.monotonic()
            self._watched_versions.clear()
            self._watched_errors.clear()

    def watched(self) -> LoadCounts:
        """Requests sent since watch(): versions of the answers, and the failures."""
        with self._lock:
            versions, errors = dict(self._watched_versions), dict(self._watched_errors)
        return LoadCounts(
            sent=sum(versions.values()) + sum(errors.values()), by_version=versions, errors=errors
        )

    def _pace(self) -> None:
        period = 1.0 / self._rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self._tokens.put_nowait(True)
            except queue.Full:
                with self._lock:
                    self._skipped += 1
            next_at += period
            # Never try to catch up on a backlog after a stall (e.g. a suspended laptop).
            next_at = max(next_at, time.monotonic() - period)
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _work(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            try:
                self._tokens.get(timeout=0.1)
            except queue.Empty:
                continue
            if conn is None:
                conn = http.client.HTTPConnection(*self._address, timeout=self._timeout)
            sent_at = time.monotonic()
            try:
                conn.request(
                    "POST",
                    self._path,
                    body=self._body,
                    headers={"Host": self._host, "Content-Type": CONTENT_TYPE},
                )
                resp = conn.getresponse()
                resp.read()
                version = resp.getheader(telemetry.VERSION_HEADER) or "none"
                self._count(sent_at, status=str(resp.status), version=version)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                self._count(sent_at, error=type(exc).__name__)
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def _count(
        self, sent_at: float, *, status: str = "", version: str = "", error: str = ""
    ) -> None:
        with self._lock:
            self._sent += 1
            if sent_at >= self._watch_from:
                if error:
                    self._watched_errors[error] += 1
                else:
                    self._watched_versions[version] += 1
            if error:
                self._errors[error] += 1
            else:
                self._status[status] += 1
                self._version[version] += 1
