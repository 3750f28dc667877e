"""POST /api/order: validate by hand, answer 201 with the accepted order.

Validation is explicit rather than a schema library's lax coercion: `true`,
`2.0` and `"2"` are not quantities, and unknown fields are errors.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

import msgspec
from sanic import Blueprint, HTTPResponse, Request
from sanic.helpers import json_dumps

from order_api import telemetry
from order_api.errors import FieldError, error_response
from order_api.faults import Faults
from order_api.metrics import Instrumentation
from order_api.responses import PreparedHead
from order_api.settings import Settings

ITEM_MAX_CHARS = 100
QUANTITY_MIN = 1
QUANTITY_MAX = 1000
FIELDS = ("item", "quantity")
JSON_CONTENT_TYPE = "application/json"
BODY_FIELD = "(body)"  # the `field` of an error about the whole document


def validate(payload: Any) -> list[FieldError]:
    """Every problem with an order document (not just the first); [] if valid."""
    # Fast path for the common, valid order: the endpoint is benchmarked.
    if type(payload) is dict and len(payload) == 2:
        item, quantity = payload.get("item"), payload.get("quantity")
        if (
            type(item) is str
            and 0 < len(item) <= ITEM_MAX_CHARS
            and type(quantity) is int  # not isinstance(): bool is an int subclass
            and QUANTITY_MIN <= quantity <= QUANTITY_MAX
        ):
            return []
    return _field_errors(payload)


def _field_errors(payload: Any) -> list[FieldError]:
    if not isinstance(payload, dict):
        return [FieldError(BODY_FIELD, "must be a JSON object")]
    errors = [FieldError(str(name), "unknown field") for name in payload if name not in FIELDS]
    item = payload.get("item")
    if item is OUT_OF_RANGE:
        errors.append(FieldError("item", "number out of range"))
    elif "item" not in payload:
        errors.append(FieldError("item", "is required"))
    elif not isinstance(item, str):
        errors.append(FieldError("item", "must be a string"))
    elif not item:
        errors.append(FieldError("item", "must not be empty"))
    elif len(item) > ITEM_MAX_CHARS:
        errors.append(FieldError("item", f"must be at most {ITEM_MAX_CHARS} characters"))
    quantity = payload.get("quantity")
    if quantity is OUT_OF_RANGE:
        errors.append(
            FieldError("quantity", f"number out of range ({QUANTITY_MIN}..{QUANTITY_MAX})")
        )
    elif "quantity" not in payload:
        errors.append(FieldError("quantity", "is required"))
    elif type(quantity) is not int:
        errors.append(FieldError("quantity", "must be an integer"))
    elif not QUANTITY_MIN <= quantity <= QUANTITY_MAX:
        errors.append(FieldError("quantity", f"must be between {QUANTITY_MIN} and {QUANTITY_MAX}"))
    return sorted(errors, key=lambda e: e.field)


class ValidOrder(msgspec.Struct, forbid_unknown_fields=True):
    """An order `validate` accepts, checked by msgspec in C: types, ranges, no other field."""

    item: Annotated[str, msgspec.Meta(min_length=1, max_length=ITEM_MAX_CHARS)]
    quantity: Annotated[int, msgspec.Meta(ge=QUANTITY_MIN, le=QUANTITY_MAX)]


_VALID_ORDER = msgspec.json.Decoder(ValidOrder)


def decode_order(body: bytes) -> ValidOrder | None:
    """The order in `body` if it is valid and written without escapes, else None.

    msgspec refuses what is not JSON (NaN, invalid UTF-8, a trailing comma),
    a wrong type (`true` or `2.0` for an integer) and unknown fields, but keeps
    the last of duplicate keys. Without a backslash a JSON string holds no
    quote, so `"item"` occurs once per item key (or value "item", which merely
    takes the full path): counting finds a duplicate. None sends the body to
    `read_order`, which words the precise error.
    """
    if b"\\" in body or body.count(b'"item"') != 1 or body.count(b'"quantity"') != 1:
        return None
    try:
        return _VALID_ORDER.decode(body)
    except msgspec.MsgspecError:
        return None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a body is not an order: the status and error text it is answered with."""

    status: int
    message: str
    details: list[FieldError] = field(default_factory=list)


def read_order(body: bytes) -> ValidOrder | Rejection:
    """The full path for any body: the order, or the precise 400 or 422."""
    try:
        # JSON between systems is UTF-8 (RFC 8259); decoding first skips
        # json's encoding sniffing.
        payload = parse_json(body.decode())
    except ValueError as error:  # includes invalid UTF-8
        return Rejection(400, f"malformed JSON body: {error}")
    except RecursionError:  # "[[[[..." fits in 16 KiB and must not become a 500
        return Rejection(400, "malformed JSON body: nested too deeply")
    errors = validate(payload)
    if errors:
        return Rejection(422, "invalid order", errors)
    return ValidOrder(item=payload["item"], quantity=payload["quantity"])


# The RFC 4122 variant nibble (binary 10xx) keeping a random hex digit's low two bits.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def order_ids(batch: int = 256) -> Iterator[str]:
    """Random (version 4) UUID strings, made `batch` at a time.

    One os.urandom call (a getrandom syscall) per order showed up at ~10% of
    the request in the benchmark; batching keeps the same kernel CSPRNG source
    at 1/256 of the syscalls. The ids are cut from one hex string, with the
    version and variant digits set as uuid.UUID(version=4) sets them, at a
    third of the cost of str(UUID(...)).
    """
    while True:
        pool = os.urandom(16 * batch).hex()
        yield from [
            f"{pool[at : at + 8]}-{pool[at + 8 : at + 12]}-4{pool[at + 13 : at + 16]}-"
            f"{_VARIANT[pool[at + 16]]}{pool[at + 17 : at + 20]}-{pool[at + 20 : at + 32]}"
            for at in range(0, len(pool), 32)
        ]


class JsonRejected(ValueError):
    """JSON that Python's decoder accepts but RFC 8259 and I-JSON (RFC 7493) do not."""


class _OutOfRange:
    """Stands for an integer with more digits than Python converts (int_max_str_digits)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OUT_OF_RANGE"


OUT_OF_RANGE: Final = _OutOfRange()


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python keeps the last of duplicate keys; another parser may keep the first.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise JsonRejected("duplicate key in an object")
    return obj


def _no_constant(name: str) -> Any:
    raise JsonRejected(f"{name} is not a JSON value")


def _bounded_int(digits: str) -> int | _OutOfRange:
    limit = sys.get_int_max_str_digits()
    return OUT_OF_RANGE if limit and len(digits.lstrip("-")) > limit else int(digits)


# What json.loads() uses, strict about duplicate keys and NaN/Infinity.
_DECODER = jsonlib.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)
# The same, with oversized integers kept as OUT_OF_RANGE (tried only after int() refused one).
_WIDE_DECODER = jsonlib.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_int=_bounded_int
)


def parse_json(text: str) -> Any:
    """json.loads(text) with the strict decoder above.

    Raises ValueError (JSONDecodeError or JsonRejected) for what is not JSON,
    including a lone surrogate escape such as "\\ud800" (not Unicode text).
    """
    try:
        value = _decode(_DECODER, text)
    except (jsonlib.JSONDecodeError, JsonRejected):
        raise
    except ValueError:  # int() refused a number over sys.get_int_max_str_digits()
        value = _decode(_WIDE_DECODER, text)
    # Raw UTF-8 cannot carry a surrogate (decode() refused it): only an escape can.
    if "\\u" in text and _has_lone_surrogate(value):
        raise JsonRejected("invalid Unicode: a lone surrogate escape")
    return value


def _decode(decoder: jsonlib.JSONDecoder, text: str) -> Any:
    """decoder.decode(text), refusing a BOM with json.loads' own message."""
    if text.startswith("\ufeff"):
        raise jsonlib.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return decoder.decode(text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(value: Any) -> bool:
    # The decoder joins escaped pairs, so any surrogate left in a string is lone.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def json_string(text: str) -> str:
    """`text` as a JSON string, exactly as sanic.json()'s encoder writes it.

    Printable ASCII without a quote or backslash is written as is by that
    encoder, and that check costs a fifth of calling it.
    """
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json_dumps(text)


def is_json(content_type: str | None) -> bool:
    """application/json, with or without parameters such as charset."""
    if content_type == JSON_CONTENT_TYPE:  # what nearly every client sends
        return True
    if not content_type:
        return False
    return content_type.partition(";")[0].strip().lower() == JSON_CONTENT_TYPE


class _UtcClock:
    """RFC 3339 UTC timestamps in milliseconds.

    At benchmark rates a dozen orders share each millisecond: the text is
    formatted once per millisecond, the date part once per second.
    """

    __slots__ = ("_milli", "_prefix", "_second", "_text")

    def __init__(self) -> None:
        self._milli = self._second = -1
        self._prefix = self._text = ""

    def now(self) -> str:
        milli = time.time_ns() // 1_000_000
        if milli != self._milli:
            self._milli = milli
            second, fraction = divmod(milli, 1000)
            if second != self._second:
                self._second = second
                self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._text = f"{self._prefix}.{fraction:03d}Z"
        return self._text


rfc3339_now = _UtcClock().now


def create_blueprint(
    settings: Settings, faults: Faults, instrumentation: Instrumentation
) -> Blueprint:
    bp = Blueprint("orders")
    version_json = json_dumps(settings.version)
    # Every answer carries the version; the 201's head is rendered once.
    version_header = {telemetry.VERSION_HEADER: settings.version}
    created = PreparedHead.render(201, version_header, JSON_CONTENT_TYPE)
    ids = order_ids()
    delay_s, error_rate = faults.delay_s, faults.error_rate

    def refuse(status: int, message: str, details: list[FieldError] | None = None) -> HTTPResponse:
        return error_response(status, message, details=details or (), headers=version_header)

    @instrumentation.route(bp, "POST", telemetry.ORDER_PATH, stamps_version=True)
    async def create_order(request: Request) -> HTTPResponse:
        if delay_s:  # checked here: even an idle coroutine call shows in the benchmark
            await asyncio.sleep(delay_s)
        if not is_json(request.headers.get("content-type")):
            return refuse(415, "Content-Type must be application/json")
        body = request.body
        order = decode_order(body) or read_order(body)
        if isinstance(order, Rejection):
            return refuse(order.status, order.message, order.details)
        # After validation: bad input never turns into a 5xx, even with faults on.
        if error_rate and faults.should_fail():
            return refuse(500, "injected fault")
        # The body json() would render (same encoder for the client's item,
        # same key order, compact), at ~60% of its cost: only `item` needs
        # escaping, the other values are ASCII tokens or an int.
        answer = (
            f'{{"id":"{next(ids)}","item":{json_string(order.item)},'
            f'"quantity":{order.quantity},"status":"accepted",'
            f'"version":{version_json},"created_at":"{rfc3339_now()}"}}'
        )
        return created.respond(answer.encode())

    return bp
