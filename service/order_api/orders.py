"""POST /api/order: validate by hand, answer 201 with the accepted order.

Validation is explicit rather than a schema library's lax coercion: `true`,
`2.0` and `"2"` are not quantities, and unknown fields are errors.
"""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sanic import Blueprint, HTTPResponse, Request, json

from order_api import telemetry
from order_api.errors import FieldError, error_response
from order_api.faults import Faults
from order_api.settings import Settings

ITEM_MAX_CHARS = 100
QUANTITY_MIN = 1
QUANTITY_MAX = 1000
FIELDS = ("item", "quantity")
BODY_FIELD = "(body)"  # the `field` of an error about the whole document


@dataclass(frozen=True, slots=True)
class OrderRequest:
    item: str
    quantity: int


def validate(payload: Any) -> OrderRequest | list[FieldError]:
    """Return the order, or every problem found (not just the first)."""
    if not isinstance(payload, dict):
        return [FieldError(BODY_FIELD, "must be a JSON object")]
    errors = [FieldError(str(name), "unknown field") for name in payload if name not in FIELDS]
    item = payload.get("item")
    if "item" not in payload:
        errors.append(FieldError("item", "is required"))
    elif not isinstance(item, str):
        errors.append(FieldError("item", "must be a string"))
    elif not item:
        errors.append(FieldError("item", "must not be empty"))
    elif len(item) > ITEM_MAX_CHARS:
        errors.append(FieldError("item", f"must be at most {ITEM_MAX_CHARS} characters"))
    quantity = payload.get("quantity")
    if "quantity" not in payload:
        errors.append(FieldError("quantity", "is required"))
    # type() rather than isinstance(): bool is a subclass of int.
    elif type(quantity) is not int:
        errors.append(FieldError("quantity", "must be an integer"))
    elif not QUANTITY_MIN <= quantity <= QUANTITY_MAX:
        errors.append(FieldError("quantity", f"must be between {QUANTITY_MIN} and {QUANTITY_MAX}"))
    if errors:
        return sorted(errors, key=lambda e: e.field)
    return OrderRequest(item=item, quantity=quantity)


def is_json(content_type: str | None) -> bool:
    """application/json, with or without parameters such as charset."""
    if not content_type:
        return False
    return content_type.partition(";")[0].strip().lower() == "application/json"


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create_blueprint(settings: Settings, faults: Faults) -> Blueprint:
    bp = Blueprint("orders")
    version = settings.version

    @bp.post(telemetry.ORDER_PATH)
    async def create_order(request: Request) -> HTTPResponse:
        await faults.delay()
        if not is_json(request.headers.get("content-type")):
            return error_response(415, "Content-Type must be application/json")
        try:
            payload = jsonlib.loads(request.body)
        except ValueError as error:  # includes invalid UTF-8
            return error_response(400, f"malformed JSON body: {error}")
        except RecursionError:  # "[[[[..." fits in 16 KiB and must not become a 500
            return error_response(400, "malformed JSON body: nested too deeply")
        order = validate(payload)
        if isinstance(order, list):
            return error_response(422, "invalid order", details=order)
        # After validation: bad input never turns into a 5xx, even with faults on.
        if faults.should_fail():
            return error_response(500, "injected fault")
        return json(
            {
                "id": str(uuid4()),
                "item": order.item,
                "quantity": order.quantity,
                "status": "accepted",
                "version": version,
                "created_at": rfc3339_now(),
            },
            status=201,
        )

    return bp
