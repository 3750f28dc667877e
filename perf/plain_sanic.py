"""The framework's ceiling for `make bench`: a plain Sanic app, nothing else.

The same Sanic as order-api, one process, no head guard, no metrics, no
validation: POST to the order path answers a small JSON. `python -m
perf.plain_sanic --port N` serves it on loopback until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import sys

from sanic import HTTPResponse, Request, Sanic, json

from order_api import telemetry

ANSWER = {"status": "accepted"}


def create_plain_app() -> Sanic:
    app = Sanic("plain_sanic")
    app.config.ACCESS_LOG = False  # order-api logs no access either
    app.config.MOTD = False

    @app.post(telemetry.ORDER_PATH)
    async def order(request: Request) -> HTTPResponse:
        return json(ANSWER, status=201)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.plain_sanic", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="loopback TCP port")
    args = parser.parse_args(argv)
    create_plain_app().run(
        host="127.0.0.1",
        port=args.port,
        single_process=True,
        access_log=False,
        motd=False,
        auto_reload=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
