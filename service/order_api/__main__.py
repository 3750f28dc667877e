"""`order-api` console script: one single-process Sanic server.

Kubernetes scales by replicas, so there are no workers and no reloader.
"""

from __future__ import annotations

import argparse
import socket
import sys

from order_api import __version__, settings
from order_api.app import PROTOCOL, create_app
from order_api.settings import Settings, SettingsError

EXIT_BAD_CONFIG = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="order-api",
        description=f"order-api {__version__}: the instrumented sample order service.",
        epilog=(
            f"Environment: {settings.ENV_VERSION}, {settings.ENV_FAULT_ERROR_RATE} (0..1), "
            f"{settings.ENV_FAULT_DELAY_MS} (>=0), "
            f"{settings.ENV_SHUTDOWN_DELAY_S} (>=0, default 5), "
            f"{settings.ENV_DRAIN_TIMEOUT_S} (>=0, default 15), "
            f"{settings.ENV_HEAD_TIMEOUT_S} (>0, default 10), "
            f"{settings.ENV_MAX_CONNECTIONS} (>=1, default 1000), "
            f"{settings.ENV_RESPONSE_TIMEOUT_S} (>0, default 60)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"order-api {__version__}")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=_port, default=8080, help="TCP port (%(default)s)")
    return parser.parse_args(argv)


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"invalid port {raw!r}: must be 1-65535")
    return port


def _listen(host: str, port: int) -> socket.socket:
    # Binding here turns "address in use" into a one-line error and exit 1;
    # Sanic would log a traceback and still exit 0.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=1024)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = Settings.from_env()
    except SettingsError as error:
        print(f"order-api: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        sock = _listen(args.host, args.port)
    except OSError as error:
        print(f"order-api: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    app = create_app(config, listener=sock)
    print(f"order-api {__version__} listening on {_url(sock)}", file=sys.stderr, flush=True)
    app.run(
        sock=sock,
        protocol=PROTOCOL,
        single_process=True,
        access_log=False,
        motd=False,
        auto_reload=False,
    )
    return 0


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


if __name__ == "__main__":
    sys.exit(main())
