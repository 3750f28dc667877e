"""POST /api/order and every bad-input class, over real HTTP."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sanic.helpers import json_dumps

from order_api.orders import json_string, order_ids, parse_json
from tests.service.order_api_server import OrderApiServer

JSON = {"Content-Type": "application/json"}
VERSION = "2.3.4-test"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with OrderApiServer(ORDER_API_VERSION=VERSION) as server, server.client() as client:
        yield client


def post(client: httpx.Client, body: str | bytes, headers: dict[str, str] = JSON) -> httpx.Response:
    return client.post("/api/order", content=body, headers=headers)


@pytest.mark.live
def test_valid_order_is_accepted(client: httpx.Client) -> None:
    before = datetime.now(UTC)
    response = client.post("/api/order", json={"item": "book", "quantity": 2})
    after = datetime.now(UTC)

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-app-version"] == VERSION
    body = response.json()
    assert set(body) == {"id", "item", "quantity", "status", "version", "created_at"}
    assert uuid.UUID(body["id"]).version == 4
    assert str(uuid.UUID(body["id"])) == body["id"]  # canonical lower-case form
    assert body["item"] == "book"
    assert body["quantity"] == 2
    assert body["status"] == "accepted"
    assert body["version"] == VERSION
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["created_at"])
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(milliseconds=1) <= created <= after


@pytest.mark.live
def test_order_ids_are_unique(client: httpx.Client) -> None:
    ids = {
        client.post("/api/order", json={"item": "pen", "quantity": 1}).json()["id"]
        for _ in range(300)  # more than one batch of pooled ids
    }
    assert len(ids) == 300


@pytest.mark.parametrize(
    "item",
    ["x", "a" * 100, 'quote " and \\ backslash', "ünïcødé ✓ 🚀", "tab\tnew\nline", "</script>"],
)
@pytest.mark.live
def test_item_round_trips_exactly(client: httpx.Client, item: str) -> None:
    response = client.post("/api/order", json={"item": item, "quantity": 1})
    assert response.status_code == 201
    assert response.json()["item"] == item


def test_order_ids_are_canonical_random_version_4() -> None:
    ids = list(itertools.islice(order_ids(batch=8), 4000))
    assert len(set(ids)) == len(ids)
    for order_id in ids:
        parsed = uuid.UUID(order_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == order_id
    # The variant digit keeps two random bits: all four values occur.
    assert {order_id[19] for order_id in ids} == set("89ab")


@pytest.mark.live
@pytest.mark.parametrize("item", ["book", 'quote " \\ / </script>', "ünïcødé ✓ 🚀", "ctl\x01\t"])
def test_order_body_is_what_sanic_json_renders(client: httpx.Client, item: str) -> None:
    # The handler renders the body itself; it must stay byte-identical to
    # sanic.json() of the same document: compact, in field order, same escaping.
    response = client.post("/api/order", json={"item": item, "quantity": 7})
    assert response.status_code == 201
    assert response.content == json_dumps(response.json()).encode()
    assert response.json()["item"] == item


@pytest.mark.live
@pytest.mark.parametrize("quantity", [1, 1000])
def test_quantity_bounds_are_inclusive(client: httpx.Client, quantity: int) -> None:
    response = client.post("/api/order", json={"item": "book", "quantity": quantity})
    assert response.status_code == 201
    assert response.json()["quantity"] == quantity


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/json;"]
)
@pytest.mark.live
def test_json_content_type_variants_are_accepted(client: httpx.Client, content_type: str) -> None:
    body = b'{"item": "book", "quantity": 3}'
    assert post(client, body, {"Content-Type": content_type}).status_code == 201


@pytest.mark.parametrize(
    ("document", "details"),
    [
        ({"item": "", "quantity": 1}, [("item", "must not be empty")]),
        ({"item": "a" * 101, "quantity": 1}, [("item", "must be at most 100 characters")]),
        ({"item": 5, "quantity": 1}, [("item", "must be a string")]),
        ({"item": None, "quantity": 1}, [("item", "must be a string")]),
        ({"item": ["book"], "quantity": 1}, [("item", "must be a string")]),
        ({"quantity": 1}, [("item", "is required")]),
        ({"item": "book"}, [("quantity", "is required")]),
        ({"item": "book", "quantity": 0}, [("quantity", "must be between 1 and 1000")]),
        ({"item": "book", "quantity": 1001}, [("quantity", "must be between 1 and 1000")]),
        ({"item": "book", "quantity": -5}, [("quantity", "must be between 1 and 1000")]),
        ({"item": "book", "quantity": True}, [("quantity", "must be an integer")]),
        ({"item": "book", "quantity": False}, [("quantity", "must be an integer")]),
        ({"item": "book", "quantity": 2.0}, [("quantity", "must be an integer")]),
        ({"item": "book", "quantity": 2.5}, [("quantity", "must be an integer")]),
        ({"item": "book", "quantity": "2"}, [("quantity", "must be an integer")]),
        ({"item": "book", "quantity": None}, [("quantity", "must be an integer")]),
        ({"item": "book", "quantity": 10**30}, [("quantity", "must be between 1 and 1000")]),
        (
            {"item": "book", "quantity": 1, "price": 9},
            [("price", "unknown field")],
        ),
        (
            {},
            [("item", "is required"), ("quantity", "is required")],
        ),
        (
            {"item": "", "quantity": "x", "coupon": "A", "note": ""},
            [
                ("coupon", "unknown field"),
                ("item", "must not be empty"),
                ("note", "unknown field"),
                ("quantity", "must be an integer"),
            ],
        ),
        ([{"item": "book", "quantity": 1}], [("(body)", "must be a JSON object")]),
        ("book", [("(body)", "must be a JSON object")]),
        (3, [("(body)", "must be a JSON object")]),
        (None, [("(body)", "must be a JSON object")]),
    ],
)
@pytest.mark.live
def test_wrong_shape_is_422_with_every_field_error(
    client: httpx.Client, document: object, details: list[tuple[str, str]]
) -> None:
    response = post(client, json.dumps(document))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-app-version"] == VERSION
    assert response.json() == {
        "error": "invalid order",
        "details": [{"field": field, "message": message} for field, message in details],
    }


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"item": "book", "quantity": 2',
        b"{'item': 'book'}",
        b'{"item": "book", "quantity": 2} trailing',
        b'{"item": "book", "quantity": 02}',
        b'{"item": "bo\x01ok", "quantity": 2}',  # raw control character
        b"\xff\xfe not utf-8",
        b"[" * 15000,  # deep nesting must not become a 500
    ],
)
@pytest.mark.live
def test_malformed_json_is_400(client: httpx.Client, body: bytes) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body_json = response.json()
    assert list(body_json) == ["error"]
    assert body_json["error"].startswith("malformed JSON body")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}],
)
@pytest.mark.live
def test_wrong_content_type_is_415(client: httpx.Client, headers: dict[str, str]) -> None:
    response = post(client, b'{"item": "book", "quantity": 2}', headers)
    assert response.status_code == 415
    assert response.json() == {"error": "Content-Type must be application/json"}
    assert response.headers["x-app-version"] == VERSION


@pytest.mark.live
def test_body_over_16_kib_is_413(client: httpx.Client) -> None:
    body = json.dumps({"item": "a" * (16 * 1024), "quantity": 1})
    response = post(client, body)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "request body exceeds 16384 bytes"}
    assert response.headers["x-app-version"] == VERSION


@pytest.mark.live
def test_body_of_exactly_16_kib_is_not_413(client: httpx.Client) -> None:
    body = b'{"item": "book", "quantity": 2}'
    body = body[:-1] + b" " * (16 * 1024 - len(body)) + b"}"
    assert len(body) == 16 * 1024
    assert post(client, body).status_code == 201


@pytest.mark.live
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405_with_allow(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/api/order")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": f"method {method} not allowed"}
    assert response.headers["x-app-version"] == VERSION


@pytest.mark.live
@pytest.mark.parametrize("path", ["/", "/api", "/api/orders", "/api/order/1", "/nope?x=<b>"])
def test_unknown_path_is_json_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "not found"}
    assert response.headers["x-app-version"] == VERSION


@pytest.mark.live
def test_bench_endpoint_does_not_exist_in_normal_runs(client: httpx.Client) -> None:
    assert client.post("/bench/bare", headers=JSON, content=b"{}").status_code == 404


@pytest.mark.live
def test_connection_survives_client_errors(client: httpx.Client) -> None:
    # A 4xx must not cost the client its keep-alive connection.
    for _ in range(3):
        assert post(client, b"{").status_code == 400
        assert client.post("/api/order", json={"item": "b", "quantity": 1}).status_code == 201


def test_json_string_is_what_sanic_json_writes() -> None:
    # Every code point except lone surrogates, alone and inside other text.
    for code in [*range(0xD800), *range(0xE000, 0x110000, 7)]:
        for text in (chr(code), f"a{chr(code)}b"):
            assert json_string(text) == json_dumps(text), hex(code)


@pytest.mark.parametrize(
    "text",
    ['{"item":"x","quantity":1}', ' {"a": 1}\n', "\ufeff{}", '{"a":1} x', "", "[1,", "[[[", "12 "],
)
def test_parse_json_is_json_loads(text: str) -> None:
    try:
        expected: object = json.loads(text)
    except ValueError as error:
        with pytest.raises(ValueError) as raised:
            parse_json(text)
        assert (type(raised.value), str(raised.value)) == (type(error), str(error))
    else:
        assert parse_json(text) == expected


@pytest.mark.live
@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Python keeps the last duplicate, another parser the first: refuse both readings.
        (b'{"item": "book", "item": "pen", "quantity": 1}', "duplicate key in an object"),
        (b'{"item": "book", "quantity": 1, "quantity": 2}', "duplicate key in an object"),
        (b'{"item": "book", "quantity": NaN}', "NaN is not a JSON value"),
        (b'{"item": "book", "quantity": Infinity}', "Infinity is not a JSON value"),
        (b'{"item": "book", "quantity": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"item": "\\ud800", "quantity": 1}', "invalid Unicode: a lone surrogate escape"),
        (b'{"item": "a\\udc00b", "quantity": 1}', "invalid Unicode: a lone surrogate escape"),
        (b'{"item": "a", "quantity": 1, "\\ud83d": 1}', "invalid Unicode: a lone surrogate escape"),
    ],
)
@pytest.mark.live
def test_json_python_accepts_but_rfc_8259_does_not_is_400(
    client: httpx.Client, body: bytes, message: str
) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert response.json() == {"error": f"malformed JSON body: {message}"}


@pytest.mark.live
def test_an_escaped_surrogate_pair_is_one_character(client: httpx.Client) -> None:
    response = post(client, b'{"item": "\\ud83d\\ude00", "quantity": 1}')
    assert response.status_code == 201
    assert response.json()["item"] == "\N{GRINNING FACE}"


@pytest.mark.live
@pytest.mark.parametrize(
    ("document", "details"),
    [
        (
            '{"item": "book", "quantity": ' + "9" * 5000 + "}",
            [("quantity", "number out of range (1..1000)")],
        ),
        (
            '{"item": -' + "1" * 5000 + ', "quantity": 1}',
            [("item", "number out of range")],
        ),
    ],
)
@pytest.mark.live
def test_an_integer_too_long_to_convert_is_422_naming_the_field(
    client: httpx.Client, document: str, details: list[tuple[str, str]]
) -> None:
    response = post(client, document)
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid order",
        "details": [{"field": field, "message": message} for field, message in details],
    }
    assert "set_int_max_str_digits" not in response.text
