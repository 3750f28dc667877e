"""A webhook sink: records every request body it is sent and serves them back on GET.

The local cluster's stand-in for the person on call. It runs as a pod of
SINK_IMAGE (cluster/images.py maps that image to this module) and is the
receiver of Flagger's event webhook, Flagger's AlertProvider and
Alertmanager's webhook in the tests' alert values.

`POST` or `PUT <path>` records {path, received_at, body} (the body parsed as
JSON when it is JSON, else its text) and answers 200; `GET <prefix>` answers
the records whose path starts with the prefix, oldest first, as a JSON list.
Bounded: the last MAX_RECORDS bodies of at most MAX_BODY bytes each. Only the
standard library, so the project's interpreter runs it as any uid.

    python -m cluster.webhook_sink --port 8080 [--host 0.0.0.0]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The image the tests' sink pod names; never pulled, only mapped to this module.
SINK_IMAGE = "order-api-sre/webhook-sink:local"
MAX_RECORDS = 1000
MAX_BODY = 1 << 20


class Records:
    """What the sink was sent, shared by the handler threads."""

    def __init__(self, limit: int = MAX_RECORDS) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def add(self, path: str, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        with self._lock:
            self._items.append({"path": path, "received_at": time.time(), "body": body})

    def under(self, prefix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self._items if r["path"].startswith(prefix)]


def handler_for(records: Records) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                self._answer(413, {"error": f"body over {MAX_BODY} bytes"})
                return
            records.add(self.path, self.rfile.read(length))
            self._answer(200, {"recorded": self.path})

        do_POST = do_PUT = _record

        def do_GET(self) -> None:
            self._answer(200, records.under(self.path))

        def log_message(self, format: str, *args: Any) -> None:
            # One line per request on stderr: `kubectl logs` shows who called.
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler


def serve(host: str, port: int) -> None:
    server = ThreadingHTTPServer((host, port), handler_for(Records()))
    server.daemon_threads = True

    def stop(_signum: int, _frame: object) -> None:
        # shutdown() waits for serve_forever, which runs in this thread: do it aside.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"webhook sink listening on {host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.webhook_sink", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
