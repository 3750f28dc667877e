"""The shell commands inside a Canary's webhooks, read as the rehearsal needs them.

- a `curl ... -w '%{http_code}' URL` compared with a status (an acceptance
  test): the request to send and the status it must return;
- a `hey` load command (flagger-loadtester's usual `type: cmd` task): the
  request, and how long and how fast hey sends it.

hey's flags (github.com/rakyll/hey): `-z` duration (then `-n` is ignored),
`-n` requests (default 200), `-c` workers (default 50), `-q` requests per
second PER WORKER (default 0: no limit), `-t` timeout in seconds (default 20).
Go's flag package accepts `-flag value`, `-flag=value` and `--flag`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from order_api import telemetry
from rehearsal.spec.duration_text import parse_duration

# hey's defaults (hey.go flag definitions).
HEY_DEFAULT_REQUESTS = 200
HEY_DEFAULT_WORKERS = 50
HEY_DEFAULT_TIMEOUT_S = 20.0
# hey's flags that take no value; every other flag takes one.
_HEY_BOOLEAN_FLAGS = {"h2", "disable-compression", "disable-keepalive", "disable-redirects"}


@dataclass(frozen=True, kw_only=True)
class HttpCheck:
    """What a webhook's curl command sends, so the rehearsal can send the same."""

    method: str
    url: str
    body: str | None
    headers: Mapping[str, str]
    expect_status: int


def parse_curl_check(cmd: str) -> HttpCheck | None:
    """The request of a `test "$(curl ... -w '%{http_code}' URL)" = 201` style command.

    Returns None when the command is not a curl call with an expected status;
    the caller then falls back to the service contract (a valid order, 201).
    """
    start = cmd.find("curl ")
    if start < 0:
        return None
    # The curl call ends at the `)` of `$(...)` or at a pipe; the status follows.
    end = next((i for i in range(start, len(cmd)) if cmd[i] in ")|"), len(cmd))
    try:
        argv = shlex.split(cmd[start:end])
    except ValueError:
        return None
    method, body, url, headers = "GET", None, None, {}
    args = iter(argv[1:])
    for arg in args:
        if arg in ("-X", "--request"):
            method = next(args, method)
        elif arg in ("-d", "--data", "--data-raw", "--data-binary"):
            body = next(args, None)
            method = "POST" if method == "GET" else method
        elif arg in ("-H", "--header"):
            key, _, value = next(args, "").partition(":")
            headers[key.strip()] = value.strip()
        elif arg in ("-o", "-w", "--max-time", "-m", "--output", "--write-out"):
            next(args, None)
        elif arg.startswith(("http://", "https://")):
            url = arg
    # The status the shell compares the output with: `... )" = 201`, `| grep 201`.
    status = re.search(r"\b([1-5]\d\d)\b", cmd[end:])
    expect = int(status.group(1)) if status else None
    if url is None or expect is None:
        return None
    return HttpCheck(method=method, url=url, body=body, headers=headers, expect_status=expect)


@dataclass(frozen=True, kw_only=True)
class HeyCommand:
    """A `hey` load command: the request, and how long and how fast it is sent."""

    method: str
    url: str
    host: str | None
    body: str | None
    content_type: str | None
    duration_s: float | None  # -z; None: stop after `requests`
    requests: int  # -n (ignored when duration_s is set)
    workers: int  # -c
    qps_per_worker: float  # -q; 0 means as fast as possible
    timeout_s: float  # -t

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @property
    def rate(self) -> float | None:
        """Requests per second over all workers, None when unlimited."""
        return self.qps_per_worker * self.workers if self.qps_per_worker > 0 else None


class CommandError(ValueError):
    """A hey command the rehearsal cannot run as hey would."""


def _hey_flags(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    positional: list[str] = []
    args = iter(argv)
    for arg in args:
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name in _HEY_BOOLEAN_FLAGS:
            flags[name] = "true"
        elif eq:
            flags[name] = value
        else:
            flags[name] = next(args, "")
    return flags, positional


def _number(flags: Mapping[str, str], name: str, default: float, cmd: str) -> float:
    if name not in flags:
        return default
    try:
        value = float(flags[name])
    except ValueError:
        raise CommandError(f"hey -{name} {flags[name]!r} is not a number in {cmd!r}") from None
    if value < 0:
        raise CommandError(f"hey -{name} {flags[name]} is negative in {cmd!r}")
    return value


def parse_hey(cmd: str) -> HeyCommand | None:
    """The hey command in `cmd`, None when `cmd` does not run hey.

    A hey command with a bad flag value raises CommandError naming it.
    """
    try:
        argv = shlex.split(cmd)
    except ValueError:
        return None
    if not argv or argv[0].rsplit("/", 1)[-1] != "hey":
        return None
    flags, positional = _hey_flags(argv[1:])
    urls = [a for a in positional if a.startswith(("http://", "https://"))]
    if not urls:
        raise CommandError(f"hey command without a URL: {cmd!r}")
    duration = None
    if flags.get("z"):
        try:
            duration = parse_duration(flags["z"])
        except ValueError as exc:
            raise CommandError(f"hey -z in {cmd!r}: {exc}") from None
    workers = int(_number(flags, "c", HEY_DEFAULT_WORKERS, cmd))
    if workers < 1:
        raise CommandError(f"hey -c must be at least 1 in {cmd!r}")
    return HeyCommand(
        method=flags.get("m", "GET").upper(),
        url=urls[-1],
        host=flags.get("host"),
        body=flags.get("d"),
        content_type=flags.get("T"),
        duration_s=duration,
        requests=int(_number(flags, "n", HEY_DEFAULT_REQUESTS, cmd)),
        workers=workers,
        qps_per_worker=_number(flags, "q", 0, cmd),
        timeout_s=_number(flags, "t", HEY_DEFAULT_TIMEOUT_S, cmd) or HEY_DEFAULT_TIMEOUT_S,
    )


# The service contract's valid order, for a pre-rollout hook whose command
# the rehearsal cannot read (not a curl call with an expected status).
CONTRACT_ORDER = '{"item": "rehearsal-acceptance-test", "quantity": 1}'
CONTRACT_CHECK = HttpCheck(
    method="POST",
    url=telemetry.ORDER_PATH,
    body=CONTRACT_ORDER,
    headers={"Content-Type": "application/json"},
    expect_status=201,
)
