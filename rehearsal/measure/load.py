"""hey, as flagger-loadtester runs it: workers sending one request at a time.

One `HeyRun` is one run of a `hey` command (rehearsal.commands.HeyCommand):
`workers` threads, each sending its next request when its own throttle ticks
(`-q` per worker, as hey's `time.Tick`: a slot missed while a slow answer was
awaited is dropped, at most one is kept pending), until the duration is over
(`-z`; requests in flight are awaited, as hey does) or the worker's share of
`-n` is sent. Every response is counted by status and `X-App-Version`; dropped
slots are counted as skipped, so a rate the machine cannot reach shows.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from order_api import telemetry

# hey without -q sends as fast as it can; on a shared laptop that would starve
# the very components being measured, so the rehearsal caps it (per run).
MAX_RATE = 1000.0


@dataclass(frozen=True)
class LoadCounts:
    """Responses so far, by status code and by serving version."""

    sent: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_version: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # no HTTP answer, by exception
    skipped: int = 0  # throttle slots dropped because the worker was still waiting

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


class LoadCounter:
    """Thread-safe counts shared by every run that reports into it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: Counter[str] = Counter()
        self._version: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._sent = 0
        self._skipped = 0

    def answered(self, status: int, version: str) -> None:
        with self._lock:
            self._sent += 1
            self._status[str(status)] += 1
            self._version[version] += 1

    def failed(self, error: str) -> None:
        with self._lock:
            self._sent += 1
            self._errors[error] += 1

    def skipped(self, slots: int) -> None:
        with self._lock:
            self._skipped += slots

    def snapshot(self) -> LoadCounts:
        with self._lock:
            return LoadCounts(
                sent=self._sent,
                by_status=dict(self._status),
                by_version=dict(self._version),
                errors=dict(self._errors),
                skipped=self._skipped,
            )


@dataclass(frozen=True, kw_only=True)
class Request:
    """What every request of a run sends."""

    method: str
    path: str
    host: str | None
    body: bytes | None
    content_type: str | None

    def headers(self) -> dict[str, str]:
        headers = {"Host": self.host} if self.host else {}
        if self.content_type:
            headers["Content-Type"] = self.content_type
        return headers


class HeyRun:
    """One hey run against `address` (host, port); see the module docstring."""

    def __init__(
        self,
        *,
        address: tuple[str, int],
        request: Request,
        counter: LoadCounter,
        workers: int,
        rate: float | None,
        duration_s: float | None,
        requests: int,
        timeout_s: float,
        start_at: float | None = None,
        thread_init: Callable[[], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        total = min(rate or MAX_RATE, MAX_RATE)
        self.address, self.request, self.counter = address, request, counter
        self.workers, self.rate, self.duration_s = workers, total, duration_s
        self.requests, self.timeout_s = requests, timeout_s
        # Runs first in each worker thread (the Flagger engine enters the cluster's netns).
        self.thread_init = thread_init
        self._period = workers / total
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"hey-{i}", daemon=True)
            for i in range(workers)
        ]
        self.started_at = start_at or 0.0  # time.monotonic()
        self.ended_at: float | None = None  # when the last worker finished
        self._active = workers
        self._active_lock = threading.Lock()

    @property
    def busy_until(self) -> float:
        """When the run's duration is over (monotonic); for -n runs, while it runs."""
        if self.duration_s is None:
            return float("inf") if self.running else 0.0
        return self.started_at + self.duration_s

    def start(self) -> HeyRun:
        self.started_at = self.started_at or time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def stop(self) -> None:
        """Stop early (the rehearsal ends); requests in flight may still return."""
        self._stop.set()
        self.join(self.timeout_s + 1)

    def _share(self, index: int) -> int | None:
        """This worker's part of -n (hey gives each worker n / c); None with -z."""
        if self.duration_s is not None:
            return None
        return self.requests // self.workers + (1 if index < self.requests % self.workers else 0)

    def _work(self, index: int) -> None:
        try:
            if self.thread_init is not None:
                self.thread_init()
            self._send_all(index)
        finally:
            with self._active_lock:
                self._active -= 1
                if self._active == 0:
                    self.ended_at = time.monotonic()

    def _send_all(self, index: int) -> None:
        deadline = (
            self.started_at + self.duration_s if self.duration_s is not None else float("inf")
        )
        share = self._share(index)
        sent = 0
        next_at = self.started_at
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set() and (share is None or sent < share):
            wait = min(next_at, deadline) - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            if time.monotonic() >= deadline:
                break
            conn = self._send(conn)
            sent += 1
            next_at = self._next_slot(next_at)
        if conn is not None:
            conn.close()

    def _next_slot(self, previous: float) -> float:
        """Go's ticker: one missed slot stays pending, the others are dropped."""
        slot = previous + self._period
        late = time.monotonic() - slot
        if late > self._period:
            dropped = int(late / self._period)
            self.counter.skipped(dropped)
            slot += dropped * self._period
        return slot

    def _send(self, conn: http.client.HTTPConnection | None) -> http.client.HTTPConnection | None:
        if conn is None:
            conn = http.client.HTTPConnection(*self.address, timeout=self.timeout_s)
        r = self.request
        try:
            conn.request(r.method, r.path, body=r.body, headers=r.headers())
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.counter.failed(type(exc).__name__)
            conn.close()
            return None
        self.counter.answered(resp.status, resp.getheader(telemetry.VERSION_HEADER) or "none")
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            return None
        return conn
