"""The integer fast paths of ``money`` give exactly what the original implementations gave.

``round_half_up``, ``line_amount``, ``vat_included`` and ``parse_scaled`` gained fast paths (plain integer
arithmetic instead of ``Fraction`` / ``Decimal``) because they run many times per receipt. The reference
implementations below are the code they replaced, kept verbatim; hypothesis compares both over wide ranges
(negative, zero and huge values, every VAT percent of every tax profile, arbitrary rates and spellings).
Errors must match too: same exception type and, for ``InputError``, the same code, path and message.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings, strategies as st

from kkm_bridge.model.errors import InputError
from kkm_bridge.model.money import ROUNDING_RULE, format_amount, line_amount, parse_scaled, round_half_up, vat_included
from kkm_bridge.model.tax import DEFAULT_PROFILES

# --- the replaced implementations (reference) -------------------------------------------------------


def ref_round_half_up(numerator: int, denominator: int) -> int:
    if isinstance(numerator, bool) or isinstance(denominator, bool):
        raise TypeError("round_half_up takes integers, not bools")
    if not isinstance(numerator, int) or not isinstance(denominator, int):
        raise TypeError("round_half_up takes integers")
    if denominator == 0:
        raise ZeroDivisionError("round_half_up: denominator is zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    sign = -1 if numerator < 0 else 1
    magnitude = abs(numerator)
    quotient, remainder = divmod(magnitude, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return sign * quotient


def ref_line_amount(price: int, quantity_milli: int) -> int:
    return ref_round_half_up(price * quantity_milli, 1000)


def ref_vat_included(amount: int, rate: Decimal | int) -> int:
    if isinstance(rate, bool) or isinstance(rate, float):
        raise TypeError("VAT rate must be a Decimal or an int, not float/bool")
    if isinstance(rate, Decimal) and not rate.is_finite():
        raise ValueError("VAT rate must be finite")
    r = Fraction(rate)
    if r < 0:
        raise ValueError("VAT rate must not be negative")
    return ref_round_half_up(amount * r.numerator, 100 * r.denominator + r.numerator)


_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NON_FINITE_RE = re.compile(r"[+-]?(?:nan|snan|inf|infinity)", re.IGNORECASE)


def ref_parse_scaled(value: object, path: str, digits: int, *, max_scaled: int, what: str = "value") -> int:
    if isinstance(value, bool):
        raise InputError("not_a_number", path, f"{what} must be a number, not a boolean")
    if isinstance(value, float):
        raise InputError(
            "float_not_allowed",
            path,
            f"{what} must not be a binary float (it is inexact); send a JSON number parsed as "
            "Decimal or a string such as \"12.50\"",
        )
    if isinstance(value, int):
        number = Decimal(value) if abs(value) < 10**40 else None
        if number is None:
            raise InputError("value_too_large", path, f"{what} is too large")
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if _NON_FINITE_RE.fullmatch(text):
            raise InputError("not_finite", path, f"{what} must be a finite number, got {value!r}")
        if not _NUMBER_RE.fullmatch(text) or len(text) > 200:
            raise InputError("not_a_number", path, f"{what} is not a decimal number: {value[:40]!r}")
        number = Decimal(text)
    else:
        raise InputError(
            "not_a_number", path, f"{what} must be a number or a numeric string, not {type(value).__name__}"
        )
    if not number.is_finite():
        raise InputError("not_finite", path, f"{what} must be a finite number, got {number}")
    sign, digit_tuple, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    coefficient = int("".join(map(str, digit_tuple))) if digit_tuple else 0
    if sign and coefficient != 0:
        raise InputError("negative_value", path, f"{what} must not be negative, got {number}")
    if coefficient == 0:
        return 0
    if number.adjusted() >= 40:
        raise InputError("value_too_large", path, f"{what} is too large")
    shift = exponent + digits
    if shift >= 0:
        scaled = coefficient * 10**shift
    else:
        drop = -shift
        if drop > len(digit_tuple):
            raise InputError("too_many_decimals", path, f"{what} has more than {digits} decimal places: {number}")
        scaled, rest = divmod(coefficient, 10**drop)
        if rest:
            raise InputError("too_many_decimals", path, f"{what} has more than {digits} decimal places: {number}")
    if scaled > max_scaled:
        raise InputError(
            "value_too_large",
            path,
            f"{what} {format_amount(scaled, digits)} is above the allowed maximum {format_amount(max_scaled, digits)}",
        )
    return scaled


# --- comparison -------------------------------------------------------------------------------------


def _outcome(call, *args, **kwargs) -> tuple[str, object]:  # type: ignore[no-untyped-def]
    try:
        return ("ok", call(*args, **kwargs))
    except InputError as exc:
        return ("input_error", (exc.code, exc.path, exc.message))
    except Exception as exc:  # noqa: BLE001 - the exception type is what is compared
        return ("error", type(exc))


def _same(new, ref, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    got, expected = _outcome(new, *args, **kwargs), _outcome(ref, *args, **kwargs)
    assert got == expected, (args, kwargs)
    if got[0] == "ok":
        assert type(got[1]) is int


HUGE = 10**40
#: Every VAT percent any built-in tax profile allows, on any date ("20/120" counts as 20).
PROFILE_PERCENTS = sorted(
    {rate.percent for profile in DEFAULT_PROFILES.values() for period in profile.periods for rate in period.rates
     if rate.percent is not None}
)
ints = st.one_of(st.integers(-HUGE, HUGE), st.integers(-10**6, 10**6), st.sampled_from([0, 1, -1, 499, 500, 501]))
rates = st.one_of(
    st.sampled_from(PROFILE_PERCENTS),
    st.integers(0, 100),
    st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=True, allow_infinity=True),  # errors must match too
    st.integers(-10**6, 10**6),
)


def test_rounding_rule_is_named() -> None:
    assert ROUNDING_RULE == "half_up"
    assert PROFILE_PERCENTS  # the profiles do list percents


@settings(max_examples=2000)
@given(ints, st.one_of(st.integers(-HUGE, HUGE), st.integers(-2000, 2000)))
@example(0, 0)
@example(5, -2)
@example(-5, 2)
def test_round_half_up_same_as_reference(numerator: int, denominator: int) -> None:
    _same(round_half_up, ref_round_half_up, numerator, denominator)


@pytest.mark.parametrize("pair", [(True, 2), (2, True), (1.5, 2), (2, 2.0), (Decimal(1), 2)])
def test_round_half_up_rejects_like_reference(pair: tuple[object, object]) -> None:
    _same(round_half_up, ref_round_half_up, *pair)


@settings(max_examples=2000)
@given(ints, ints)
@example(1, 500)
@example(-1, 500)
@example(1, 499)
@example(True, 1000)
def test_line_amount_same_as_reference(price: int, quantity: int) -> None:
    _same(line_amount, ref_line_amount, price, quantity)


@settings(max_examples=3000)
@given(ints, rates)
def test_vat_included_same_as_reference(amount: int, rate: Decimal | int) -> None:
    _same(vat_included, ref_vat_included, amount, rate)


@pytest.mark.parametrize("percent", PROFILE_PERCENTS)
@given(amount=st.one_of(st.integers(-10**15, 10**15), st.integers(-HUGE, HUGE)))
def test_vat_included_every_profile_percent(percent: Decimal, amount: int) -> None:
    _same(vat_included, ref_vat_included, amount, percent)
    _same(vat_included, ref_vat_included, amount, Decimal(format(percent, "f") + ".000"))


@pytest.mark.parametrize("rate", [12.0, True, False, "12", "12.5", None, Decimal("-1"), -1, Decimal("NaN")])
def test_vat_included_odd_rates_like_reference(rate: object) -> None:
    _same(vat_included, ref_vat_included, 1000, rate)


number_text = st.from_regex(
    r"\A\s?[+-]?[0-9]{0,45}(\.[0-9]{0,45})?([eE][+-]?[0-9]{1,3})?\s?\Z", fullmatch=True
)
scaled_values = st.one_of(
    number_text,
    st.text(max_size=12),
    st.text(alphabet="0123456789.", max_size=260),  # includes the over-long strings
    st.integers(-HUGE * 10, HUGE * 10),
    st.integers(0, 10**13),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=0, max_value=10**12, places=3),
    st.sampled_from([True, False, None, 1.5, [1], "٣", "１２", "1.", ".5", "0", "-0", "0.000", "00012.50"]),
)


@settings(max_examples=5000)
@given(
    scaled_values,
    st.one_of(st.integers(0, 3), st.integers(-2, 12)),
    st.one_of(st.sampled_from([999_999_999_999, 99_999_999_999, 10**15, 0, 100]), st.integers(-10, 10**20)),
)
@example("1." + "0" * 250, 2, 10**12)
@example("0" * 45 + "1", 2, 10**12)
@example("1" * 41, 0, 10**60)
@example("1" * 40, 0, 10**60)
@example("12.345", -1, 10**12)
def test_parse_scaled_same_as_reference(value: object, digits: int, max_scaled: int) -> None:
    _same(parse_scaled, ref_parse_scaled, value, "/items/0/price", digits, max_scaled=max_scaled, what="amount")
