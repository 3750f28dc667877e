"""Traefik: the IngressRoute to Flagger's TraefikService and the API's Middlewares."""

from __future__ import annotations

from typing import Any

import cdk8s
from constructs import Construct

from order_api.errors import MAX_BODY_BYTES
from stack.config import StackConfig
from stack.names import TRAEFIK_API, app_names, component_labels
from synth.custom_resource import custom_resource

# Concurrent requests before Traefik answers 429. inFlightReq groups by the
# request's Host by default, so with one host this caps the whole route, per
# Traefik replica (rateLimit, by contrast, groups by client IP).
MAX_IN_FLIGHT_PER_HOST = 50
CERT_MANAGER_GROUP = "cert-manager.io"


def middlewares(config: StackConfig) -> dict[str, dict[str, Any]]:
    """Middleware name -> spec, in the order a request passes them."""
    ing = config.ingress
    name = config.app.name
    return {
        f"{name}-ratelimit": {
            "rateLimit": {
                "average": ing.rate_limit_average,
                "burst": ing.rate_limit_burst,
                "period": "1s",
            }
        },
        f"{name}-inflight": {"inFlightReq": {"amount": MAX_IN_FLIGHT_PER_HOST}},
        # The service's own limit, rejected at the edge already.
        f"{name}-body-limit": {
            "buffering": {
                "maxRequestBodyBytes": MAX_BODY_BYTES,
                "memRequestBodyBytes": MAX_BODY_BYTES,
            }
        },
        f"{name}-security-headers": {
            "headers": {
                "frameDeny": True,
                "contentTypeNosniff": True,
                "referrerPolicy": "no-referrer",
                "contentSecurityPolicy": "default-src 'none'; frame-ancestors 'none'",
                # An empty value removes the header: don't advertise the stack.
                "customResponseHeaders": {"Server": "", "X-Powered-By": ""},
            }
        },
        # Last, next to the backend: retries only when the backend gave no
        # answer at all (refused or reset), e.g. a pod that just stopped during
        # a weight change. A reset after an order was processed could repeat
        # it; accepted here, an API with money behind it would want an
        # idempotency key before retrying POSTs.
        f"{name}-retry": {"retry": {"attempts": ing.retry_attempts, "initialInterval": "100ms"}},
    }


def https_redirect(config: StackConfig) -> str:
    """The Middleware that sends plain HTTP to HTTPS (only with ingress.tls)."""
    return f"{config.app.name}-https-redirect"


def _tls(config: StackConfig) -> dict[str, Any]:
    ing = config.ingress
    return {"tls": {"secretName": ing.tls_secret}} if ing.tls else {}


def ingress_route_spec(config: StackConfig) -> dict[str, Any]:
    names = app_names(config)
    ing = config.ingress
    return {
        "entryPoints": [ing.tls_entry_point if ing.tls else ing.entry_point],
        **_tls(config),
        "routes": [
            {
                "kind": "Rule",
                "match": f"Host(`{config.ingress.host}`)",
                "middlewares": [
                    {"name": mw, "namespace": config.namespace} for mw in middlewares(config)
                ],
                # Flagger creates and reweights this TraefikService (named like the Canary).
                "services": [{"name": names.traefik_service, "kind": "TraefikService"}],
            }
        ],
    }


def redirect_route_spec(config: StackConfig) -> dict[str, Any]:
    """Plain HTTP on the host: answered with a permanent redirect, never served."""
    names = app_names(config)
    return {
        "entryPoints": [config.ingress.entry_point],
        "routes": [
            {
                "kind": "Rule",
                "match": f"Host(`{config.ingress.host}`)",
                "middlewares": [{"name": https_redirect(config), "namespace": config.namespace}],
                # A route needs a service; the redirect answers before it is reached.
                "services": [{"name": names.traefik_service, "kind": "TraefikService"}],
            }
        ],
    }


def certificate_spec(config: StackConfig) -> dict[str, Any]:
    ing = config.ingress
    return {
        "secretName": ing.tls_secret,
        "dnsNames": [ing.host],
        "issuerRef": {"name": ing.tls_issuer, "kind": ing.tls_issuer_kind,
                      "group": CERT_MANAGER_GROUP},
    }  # fmt: skip


def _https(scope: Construct, config: StackConfig, labels: dict[str, str]) -> None:
    """The redirect of plain HTTP and, with cert-manager, the Certificate."""
    name = config.app.name

    def add(construct_id: str, api_version: str, kind: str, obj: str, spec: dict[str, Any]) -> None:
        custom_resource(scope, construct_id, api_version=api_version, kind=kind, name=obj,
                        namespace=config.namespace, labels=labels, spec=spec)  # fmt: skip

    add("https-redirect", TRAEFIK_API, "Middleware", https_redirect(config),
        {"redirectScheme": {"scheme": "https", "permanent": True}})  # fmt: skip
    add("http-redirect-route", TRAEFIK_API, "IngressRoute", f"{name}-http-redirect",
        redirect_route_spec(config))  # fmt: skip
    if config.ingress.tls == "cert-manager":
        add("certificate", f"{CERT_MANAGER_GROUP}/v1", "Certificate", name,
            certificate_spec(config))  # fmt: skip


class IngressChart(cdk8s.Chart):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        labels = component_labels(config.app.name)
        for name, spec in middlewares(config).items():
            custom_resource(
                self,
                name,
                api_version=TRAEFIK_API,
                kind="Middleware",
                name=name,
                namespace=config.namespace,
                labels=labels,
                spec=spec,
            )
        custom_resource(
            self,
            "ingress-route",
            api_version=TRAEFIK_API,
            kind="IngressRoute",
            name=app_names(config).name,
            namespace=config.namespace,
            labels=labels,
            spec=ingress_route_spec(config),
        )
        if config.ingress.tls:
            _https(self, config, labels)
