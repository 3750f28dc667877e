"""The optional HTTPS entry point: off by default; with a Secret or a cert-manager
Certificate, plain HTTP only redirects and the load test enters over HTTPS."""

from __future__ import annotations

from typing import Any

import pytest

from stack.config import ConfigError, load_config
from stack.validation import check_config
from synth.charts.canary import load_command
from synth.charts.ingress import https_redirect
from tests.support.stack_variants import chart_objects, config_for


def _by_kind(config_name: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for obj in chart_objects(config_for(config_name), "40-ingress"):
        found.setdefault(obj["kind"], []).append(obj)
    return found


def test_http_only_by_default() -> None:
    objects = _by_kind("default")
    (route,) = objects["IngressRoute"]
    assert route["spec"]["entryPoints"] == ["web"] and "tls" not in route["spec"]
    assert "Certificate" not in objects
    assert load_command(config_for("default")).split()[-1].startswith("http://")


@pytest.mark.parametrize("config_name", ["tls-secret", "tls-cert-manager"])
def test_https_serves_and_http_redirects(config_name: str) -> None:
    config = config_for(config_name)
    objects = _by_kind(config_name)
    routes = {r["metadata"]["name"]: r["spec"] for r in objects["IngressRoute"]}
    served = routes[config.app.name]
    assert served["entryPoints"] == [config.ingress.tls_entry_point]
    assert served["tls"] == {"secretName": config.ingress.tls_secret}
    (redirect,) = [s for name, s in routes.items() if name != config.app.name]
    assert redirect["entryPoints"] == [config.ingress.entry_point]
    (rule,) = redirect["routes"]
    assert [m["name"] for m in rule["middlewares"]] == [https_redirect(config)]
    middleware = next(
        m for m in objects["Middleware"] if m["metadata"]["name"] == https_redirect(config)
    )
    assert middleware["spec"] == {"redirectScheme": {"scheme": "https", "permanent": True}}
    url = load_command(config).split()[-1]
    assert url.startswith(f"https://{config.ingress.traefik_service}.")
    assert f":{config.ingress.traefik_websecure_port}/" in url


def test_cert_manager_writes_the_secret_the_route_reads() -> None:
    config = config_for("tls-cert-manager")
    (certificate,) = _by_kind("tls-cert-manager")["Certificate"]
    assert certificate["spec"]["secretName"] == config.ingress.tls_secret
    assert certificate["spec"]["dnsNames"] == [config.ingress.host]
    assert certificate["spec"]["issuerRef"]["name"] == config.ingress.tls_issuer
    assert "Certificate" not in _by_kind("tls-secret")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ORDER_API_SRE_INGRESS__TLS": "cert-manager"}, r"ingress\.tls_issuer: must name"),
        ({"ORDER_API_SRE_INGRESS__TLS": "yes"}, r"ingress\.tls: must be empty"),
        ({"ORDER_API_SRE_INGRESS__TLS": "secret", "ORDER_API_SRE_INGRESS__TLS_ENTRY_POINT": "web"},
         r"ingress\.tls_entry_point: must differ"),
    ],
)  # fmt: skip
def test_bad_tls_settings_name_the_field(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_config(load_config(env=env))
