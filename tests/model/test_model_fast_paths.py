"""Shortcuts taken for speed in the model give the answers of the plain code they stand for."""

from __future__ import annotations

import dataclasses
import pickle
import sys
import unicodedata
from datetime import datetime
from decimal import Decimal

from hypothesis import given, strategies as st

from kkm_bridge.model.errors import join_path
from kkm_bridge.model.money import line_amount
from kkm_bridge.model.receipt import Item, ItemKind, Operation, Payment, PaymentType, Receipt
from kkm_bridge.model.tax import NO_VAT, VatRate
from kkm_bridge.model.validation import _has_control_characters


def _plain_has_control(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") for ch in text)


def test_control_characters_every_code_point() -> None:
    """``str.isprintable`` is only a pre-check: for every single code point the answer is the category's."""
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        assert _has_control_characters(ch) == _plain_has_control(ch), hex(code)


@given(st.text(st.characters(), max_size=30))
def test_control_characters_in_texts(text: str) -> None:
    assert _has_control_characters(text) == _plain_has_control(text)
    assert _has_control_characters("Молоко " + text) == _plain_has_control(text)


def test_join_path_escapes_only_when_needed() -> None:
    assert join_path("/items", 0, "price") == "/items/0/price"
    assert join_path("", "a/b~c") == "/a~1b~0c"
    assert join_path("/x", "~/") == "/x/~0~1"
    assert join_path("/x", ItemKind.GOODS) == "/x/goods"  # a str subclass goes through str() as before
    assert join_path("/x") == "/x"


def _receipt(*items: Item) -> Receipt:
    return Receipt(Operation.SELL, items, (Payment(PaymentType.CASH, 10**6),), datetime(2026, 2, 1, 10, 0))


@given(
    st.integers(-10**12, 10**12), st.integers(-10**9, 10**9), st.integers(-10**6, 10**6), st.integers(-10**6, 10**6)
)
def test_item_amount_cache_matches_formula(price: int, quantity: int, discount: int, markup: int) -> None:
    item = Item("x", price, quantity, NO_VAT, discount=discount, markup=markup)
    expected = line_amount(price, quantity) - discount + markup
    assert item.amount == expected
    assert item.amount == expected  # the cached answer
    assert item.gross_amount == line_amount(price, quantity)
    receipt = _receipt(item, item)
    assert receipt.line_amounts == (expected, expected)
    assert receipt.total == 2 * expected == receipt.total


def test_cached_amounts_are_not_part_of_the_value() -> None:
    rate = VatRate(Decimal(16))
    fresh, used = Item("Milk", 45000, 1000, rate), Item("Milk", 45000, 1000, rate)
    assert used.amount == 45000
    assert fresh == used and hash(fresh) == hash(used) and repr(fresh) == repr(used)
    assert "_amount" not in repr(used)
    receipt, other = _receipt(used), _receipt(fresh)
    assert receipt.total == 45000
    assert receipt == other and hash(receipt) == hash(other) and repr(receipt) == repr(other)
    # replace() makes a new value: its amounts are worked out from its own fields, not copied.
    changed = dataclasses.replace(used, price=100)
    assert changed.amount == 100
    bigger = dataclasses.replace(receipt, items=(used, changed))
    assert bigger.total == 45100 and bigger.line_amounts == (45000, 100)
    assert pickle.loads(pickle.dumps(bigger)).total == 45100


@given(
    st.one_of(st.text(max_size=20), st.integers(-5, 200), st.sampled_from(["16", "none", "20/120", " 12 % ", "12.5"]))
)
def test_remembered_rates_parse_like_vat_rate(value: object) -> None:
    from kkm_bridge.model import builder
    from kkm_bridge.model.errors import InputError

    def outcome() -> object:
        try:
            return builder._parse_rate(value, "/items/2")
        except InputError as exc:
            return (exc.code, exc.path, exc.message)

    try:
        expected: object = VatRate.parse(value, "/items/2/vat_rate")
    except InputError as exc:
        expected = (exc.code, exc.path, exc.message)
    assert outcome() == expected
    assert outcome() == expected  # from the cache, if it was kept
    assert len(builder._RATES) <= builder._RATES_MAX


@given(st.text(max_size=12))
def test_unit_alias_lookup_like_general_path(value: str) -> None:
    from kkm_bridge.model.errors import InputError
    from kkm_bridge.model.units import DEFAULT_UNITS

    def resolve(text: object) -> object:
        try:
            return DEFAULT_UNITS.resolve(text, "/u")
        except InputError as exc:
            return exc.code

    for text in (value, "pcs", "kg", "PCS", " kg ", "796", "шт"):
        assert resolve(text) == resolve(f" {text}\t")  # the padded spelling always takes the general path


@given(st.one_of(st.text(max_size=12), st.sampled_from(["sell", " SELL ", "Card", "cash", "mobile", "goods", "x"])))
def test_parse_enum_like_the_enum_itself(value: str) -> None:
    from kkm_bridge.model.builder import parse_enum
    from kkm_bridge.model.errors import InputError

    for enum in (Operation, PaymentType, ItemKind):
        try:
            expected: object = enum(value.strip().lower())
        except ValueError:
            expected = "bad"
        try:
            got: object = parse_enum(value, "/p", enum, "bad", "thing")
        except InputError as exc:
            assert (exc.code, exc.path) == ("bad", "/p")
            got = "bad"
        assert got == expected and (got == "bad" or got is expected)
