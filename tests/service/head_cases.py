"""Request heads order-api must reject, with the answer each gets (shared by the
live test over a socket and the unit test of order_api.protocol)."""

from __future__ import annotations

HOST = b"Host: x\r\n"


def get(target: bytes = b"/api/health", headers: bytes = HOST, method: bytes = b"GET") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\n" + headers + b"Connection: close\r\n\r\n"


FIELDS_8K = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"v" * 100) for n in range(90))  # ~9.6 KiB

# (request bytes, status, message)
REJECTED_HEADS: list[tuple[bytes, int, str]] = [
    # RFC 9112: reject, do not repair.
    (get(headers=HOST + b"X-A\x00b: 1\r\n"), 400, "header name is not a token"),
    (get(headers=HOST + b"X-A: a\x00b\r\n"), 400, "header value contains a control character"),
    (get(headers=b"Host : x\r\n"), 400, "whitespace between a header name and its colon"),
    (get(headers=HOST + b"X-A: 1\r\n folded\r\n"), 400, "obsolete line folding in a header"),
    (get(headers=HOST + b"no colon here\r\n"), 400, "header line without a colon"),
    (get(headers=b""), 400, "HTTP/1.1 request without a Host header"),
    (get(headers=HOST + HOST), 400, "HTTP/1.1 request with more than one Host header"),
    (get(method=b"G(T"), 400, "method is not a token"),
    (get(method=b"<" * 8000), 400, "method is not a token"),
    (get(method=b"A" * 40), 400, "method longer than 32 characters"),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 400, "unsupported HTTP version in the request line"),
    (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed request line"),
    # Limits: the status names what is too large.
    (get(headers=HOST + FIELDS_8K), 431, "request header fields exceed 8192 bytes"),
    (get(headers=HOST + b"X-A: b\r\n" * 5000), 431, "request header fields exceed 8192 bytes"),
    (get(headers=HOST + b"X-A: b\r\n" * 150), 431, "more than 100 request header fields"),
    (get(target=b"/" + b"a" * 64 * 1024), 414, "request target exceeds 4096 bytes"),
    (get(target=b"/" + b"a" * 5000), 414, "request target exceeds 4096 bytes"),
]
