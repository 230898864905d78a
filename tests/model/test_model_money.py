"""Money helpers: rounding, line amounts, included VAT, exact parsing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from kkm_bridge.model.errors import InputError, ModelError
from kkm_bridge.model.money import (
    DEFAULT_MAX_AMOUNT,
    format_amount,
    line_amount,
    net_line_amount,
    parse_amount,
    parse_quantity,
    round_half_up,
    to_decimal,
    vat_included,
)


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [(5, 2, 3), (-5, 2, -3), (4, 2, 2), (7, 3, 2), (8, 3, 3), (1, 2, 1), (-1, 2, -1), (0, 7, 0),
     (5, -2, -3), (149, 100, 1), (150, 100, 2)],
)
def test_round_half_up(num: int, den: int, expected: int) -> None:
    assert round_half_up(num, den) == expected


@given(st.integers(-10**30, 10**30), st.integers(1, 10**12))
def test_round_half_up_matches_decimal(num: int, den: int) -> None:
    from decimal import ROUND_HALF_UP, Context

    ctx = Context(prec=200, rounding=ROUND_HALF_UP)
    expected = int(ctx.divide(Decimal(num), Decimal(den)).quantize(Decimal(1), context=ctx))
    assert round_half_up(num, den) == expected


def test_round_half_up_rejects_non_int() -> None:
    with pytest.raises(TypeError):
        round_half_up(True, 2)
    with pytest.raises(ZeroDivisionError):
        round_half_up(1, 0)


@pytest.mark.parametrize(
    ("amount", "rate", "vat"),
    [
        (50000, Decimal(12), 5357),  # 500.00 KZT at 12 % -> 53.57
        (1900000, Decimal(12), 203571),  # 19 000.00 at 12 % -> 2035.71
        (50000, Decimal(16), 6897),  # 500.00 at 16 % -> 68.97
        (1900000, Decimal(16), 262069),  # 19 000.00 at 16 % -> 2620.69
        (12000, Decimal(20), 2000),
        (11000, Decimal(10), 1000),
        (50000, Decimal(0), 0),
        (0, Decimal(12), 0),
        (1, Decimal(12), 0),
    ],
)
def test_vat_included_worked_examples(amount: int, rate: Decimal, vat: int) -> None:
    assert vat_included(amount, rate) == vat


def test_worked_example_with_discount() -> None:
    # 10 x 2000.00 - 1000.00 discount = 19 000.00 -> VAT 2035.71 at 12 %.
    amount = net_line_amount(200000, 10_000, discount=100000)
    assert amount == 1900000
    assert vat_included(amount, Decimal("12")) == 203571


def test_vat_rejects_float_rate() -> None:
    with pytest.raises(TypeError):
        vat_included(100, 12.0)  # type: ignore[arg-type]


@given(st.integers(0, DEFAULT_MAX_AMOUNT), st.sampled_from(["0", "5", "10", "12", "16", "20", "22", "12.5"]))
def test_vat_never_exceeds_amount(amount: int, rate: str) -> None:
    vat = vat_included(amount, Decimal(rate))
    assert 0 <= vat <= amount


@pytest.mark.parametrize(
    ("price", "qty", "expected"),
    [(100, 1000, 100), (199, 1500, 299), (333, 333, 111), (1, 500, 1), (1, 499, 0), (12345, 2000, 24690)],
)
def test_line_amount(price: int, qty: int, expected: int) -> None:
    assert line_amount(price, qty) == expected


def test_net_line_amount_markup() -> None:
    assert net_line_amount(1000, 2000, discount=100, markup=50) == 1950


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (500, 50000),
        ("500", 50000),
        ("500.25", 50025),
        ("0.01", 1),
        (Decimal("19000.00"), 1900000),
        (Decimal("1E+3"), 100000),
        ("1e3", 100000),
        ("1.500", 150),  # the value has 2 decimals; only its spelling has 3
        (Decimal("-0"), 0),
        (" 12.5 ", 1250),
    ],
)
def test_parse_amount_ok(value: object, expected: int) -> None:
    assert parse_amount(value, "/x") == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1.5, "float_not_allowed"),
        (True, "not_a_number"),
        (False, "not_a_number"),
        (None, "not_a_number"),
        ([1], "not_a_number"),
        ("", "not_a_number"),
        ("12,50", "not_a_number"),
        ("1_000", "not_a_number"),
        ("0x10", "not_a_number"),
        ("NaN", "not_finite"),
        ("-Infinity", "not_finite"),
        ("inf", "not_finite"),
        (Decimal("NaN"), "not_finite"),
        (Decimal("sNaN"), "not_finite"),
        (Decimal("Infinity"), "not_finite"),
        ("-1", "negative_value"),
        (-1, "negative_value"),
        (Decimal("-0.01"), "negative_value"),
        ("1.005", "too_many_decimals"),
        (Decimal("0.001"), "too_many_decimals"),
        (Decimal("1E-999999999"), "too_many_decimals"),
        ("1e50", "value_too_large"),
        (Decimal("1E+999999999"), "value_too_large"),
        (10**100, "value_too_large"),
        ("10000000000", "value_too_large"),
    ],
)
def test_parse_amount_rejects(value: object, code: str) -> None:
    with pytest.raises(InputError) as info:
        parse_amount(value, "/items/0/price")
    assert info.value.code == code
    assert info.value.path == "/items/0/price"
    assert isinstance(info.value, ValueError) and isinstance(info.value, ModelError)
    assert "/items/0/price" in str(info.value)


def test_parse_amount_ceiling_is_configurable() -> None:
    assert parse_amount("10000000000", "/x", max_minor=10**15) == 10**12
    with pytest.raises(InputError) as info:
        parse_amount("100.01", "/x", max_minor=10000)
    assert info.value.code == "value_too_large"


def test_parse_amount_zero_digit_currency() -> None:
    assert parse_amount("15", "/x", minor_digits=0) == 15
    with pytest.raises(InputError):
        parse_amount("15.5", "/x", minor_digits=0)


@given(st.integers(0, DEFAULT_MAX_AMOUNT))
def test_parse_amount_exact_round_trip(minor: int) -> None:
    """Every representable amount parses back to itself, from str, Decimal and the JSON spelling."""
    dec = to_decimal(minor, 2)
    assert parse_amount(str(dec), "/x") == minor
    assert parse_amount(dec, "/x") == minor
    assert parse_amount(format_amount(minor), "/x") == minor
    assert Decimal(format_amount(minor)) == dec


@given(st.integers(1, 10**11 - 1))
def test_parse_quantity_exact_round_trip(milli: int) -> None:
    dec = Decimal(milli).scaleb(-3)
    assert parse_quantity(str(dec), "/q") == milli
    assert parse_quantity(dec, "/q") == milli


@pytest.mark.parametrize(
    ("value", "code"),
    [("0", "quantity_not_positive"), (0, "quantity_not_positive"), ("0.0001", "too_many_decimals"),
     ("-1", "negative_value"), (2.0, "float_not_allowed"), ("1e20", "value_too_large")],
)
def test_parse_quantity_rejects(value: object, code: str) -> None:
    with pytest.raises(InputError) as info:
        parse_quantity(value, "/items/3/quantity")
    assert (info.value.code, info.value.path) == (code, "/items/3/quantity")


def test_parse_quantity_ok() -> None:
    assert parse_quantity("1.5", "/q") == 1500
    assert parse_quantity(2, "/q") == 2000
    assert parse_quantity(Decimal("0.001"), "/q") == 1
    assert parse_quantity(0, "/q", allow_zero=True) == 0


def test_format_amount() -> None:
    assert format_amount(5357) == "53.57"
    assert format_amount(5) == "0.05"
    assert format_amount(-150) == "-1.50"
    assert format_amount(7, 0) == "7"
