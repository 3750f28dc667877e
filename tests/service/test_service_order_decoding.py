"""The order's fast path (msgspec, decode_order) never accepts what the full path refuses."""

from __future__ import annotations

import json
import random

import pytest

from order_api.orders import Rejection, ValidOrder, decode_order, read_order

COMMON = b'{"item": "book", "quantity": 2}'

TRICKY = [
    COMMON,
    b'{"item":"book","quantity":2}',
    b' {"quantity": 2, "item": "book"}\n',
    b'{"item": "book", "item": "pen", "quantity": 1}',
    b'{"item": "book", "quantity": 1, "quantity": 2}',
    b'{"item": "item", "quantity": 1}',
    b'{"item": "quantity", "quantity": 1}',
    b'{"item": "book", "quantity": NaN}',
    b'{"item": "book", "quantity": Infinity}',
    b'{"item": "\\ud800", "quantity": 1}',
    b'{"item": "a", "quantity": 1, "\\ud83d": 1}',
    b'{"item": "\\ud83d\\ude00", "quantity": 1}',
    b'{"\\u0069tem": "a", "item": "b", "quantity": 1}',
    b'{"item": "a\\"item\\"", "quantity": 1}',
    b'{"item": "\xed\xa0\x80", "quantity": 1}',  # a surrogate in raw (invalid) UTF-8
    b'{"item": "\xff", "quantity": 1}',
    b'\xef\xbb\xbf{"item": "book", "quantity": 2}',
    b'{"item": "book", "quantity": 2.0}',
    b'{"item": "book", "quantity": 1e2}',
    b'{"item": "book", "quantity": true}',
    b'{"item": "book", "quantity": "2"}',
    b'{"item": "book", "quantity": 02}',
    b'{"item": "book", "quantity": -0}',
    b'{"item": "book", "quantity": 0}',
    b'{"item": "book", "quantity": 1000}',
    b'{"item": "book", "quantity": 1001}',
    b'{"item": "book", "quantity": ' + b"9" * 5000 + b"}",
    b'{"item": "", "quantity": 1}',
    b'{"item": "' + "\N{GRINNING FACE}".encode() * 100 + b'", "quantity": 1}',
    b'{"item": "' + "\N{GRINNING FACE}".encode() * 101 + b'", "quantity": 1}',
    b'{"item": "bo\x01ok", "quantity": 2}',
    b'{"item": "bo\x7fok", "quantity": 2}',
    b'{"item": "book", "quantity": 2, "extra": 1}',
    b'{"item": "book"}',
    b'{"item": "book", "quantity": 2,}',
    b'{"item": "book", "quantity": 2} x',
    b'[{"item": "book", "quantity": 2}]',
    b"",
    b"null",
]


def agree(body: bytes) -> None:
    fast, full = decode_order(body), read_order(body)
    if fast is not None:
        assert isinstance(full, ValidOrder), (body, full)
        assert (fast.item, fast.quantity) == (full.item, full.quantity), body
        assert type(fast.item) is str and type(fast.quantity) is int


@pytest.mark.parametrize("body", TRICKY)
def test_the_fast_path_accepts_only_what_the_full_path_accepts(body: bytes) -> None:
    agree(body)


def test_the_common_order_takes_the_fast_path() -> None:
    order = decode_order(COMMON)
    assert order is not None and (order.item, order.quantity) == ("book", 2)


@pytest.mark.parametrize(
    "body",
    [
        b'{"item": "book", "item": "pen", "quantity": 1}',
        b'{"item": "book", "quantity": NaN}',
        b'{"item": "\\ud800", "quantity": 1}',
    ],
)
def test_what_rfc_8259_refuses_leaves_the_fast_path_for_a_400(body: bytes) -> None:
    assert decode_order(body) is None
    rejection = read_order(body)
    assert isinstance(rejection, Rejection) and rejection.status == 400


def test_mutated_orders_never_split_the_two_paths() -> None:
    # Byte-level mutations of valid orders: deletions, insertions, replacements.
    rng = random.Random(26)
    alphabet = b' "{}[],:.-+0123456789eEtruefalsnNI\\u\x00\x1f\x7f\xc3\xa9\xed\xff'
    seeds = [
        json.dumps({"item": item, "quantity": quantity}).encode()
        for item in ("book", "é", "x" * 100, "item")
        for quantity in (1, 2, 1000)
    ]
    for _ in range(20_000):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body) + 1)
            match rng.randrange(3):
                case 0 if at < len(body):
                    del body[at]
                case 1:
                    body.insert(at, rng.choice(alphabet))
                case _ if at < len(body):
                    body[at] = rng.choice(alphabet)
        agree(bytes(body))
