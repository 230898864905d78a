"""Money arithmetic in integer minor units, and exact parsing of client amounts.

Why integers: a fiscal receipt must reconcile to the last tiyn, and the device itself works in minor
units (prices) and thousandths (quantities). Binary floats cannot represent 0.10 exactly, so floats are
never accepted and never produced here.

Why ONE rounding rule: the driver, the simulator and the validator must compute the same line amounts
and VAT sums, or the receipt the client checked is not the receipt the device prints. The rule is
``ROUNDING_RULE`` = half-up (halves go away from zero), the rule the KZ cloud APIs use (see the
reference, section 3: 500.00 at 12 % -> 53.57, 19 000.00 at 12 % -> 2035.71).

Conventions:
- amounts: ``int`` minor units (tiyn, tiyin, kopeks);
- quantities: ``int`` thousandths (``1500`` = 1.5 kg);
- VAT percents: ``Decimal`` (``Decimal("12")``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import Final

from .errors import InputError

__all__ = [
    "ROUNDING_RULE",
    "QUANTITY_DIGITS",
    "QUANTITY_SCALE",
    "DEFAULT_MAX_AMOUNT",
    "DEFAULT_MAX_QUANTITY",
    "round_half_up",
    "line_amount",
    "net_line_amount",
    "vat_included",
    "parse_amount",
    "parse_quantity",
    "parse_scaled",
    "to_decimal",
    "format_amount",
    "format_quantity",
]

#: The name of the one rounding rule used everywhere (line amounts, VAT).
ROUNDING_RULE: Final = "half_up"

#: Quantities are integer thousandths: the resolution ATOL devices use.
QUANTITY_DIGITS: Final = 3
QUANTITY_SCALE: Final = 10**QUANTITY_DIGITS
_HALF_QUANTITY: Final = QUANTITY_SCALE // 2  # QUANTITY_SCALE is even: n/SCALE half-up == (n + HALF) // SCALE

#: Default ceiling for one amount, in minor units: 9 999 999 999.99. Anything above is not a real
#: retail receipt but a typo or an attack; callers can pass another ``max_minor``.
DEFAULT_MAX_AMOUNT: Final = 999_999_999_999
#: Default ceiling for a quantity, in thousandths: 99 999 999.999 units.
DEFAULT_MAX_QUANTITY: Final = 99_999_999_999


def round_half_up(numerator: int, denominator: int) -> int:
    """Divide two integers and round to the nearest integer, halves away from zero.

    Pure integer arithmetic, so it is exact for any size. ``round_half_up(5, 2) == 3``,
    ``round_half_up(-5, 2) == -3``. Away-from-zero keeps a refund the exact mirror of its sale.
    """
    if type(numerator) is int and type(denominator) is int and denominator > 0:
        # Fast path for the usual call (plain ints, positive denominator; several per receipt line):
        # floor((2n + d) / 2d) is n/d rounded half-up, mirrored for negatives. Same result as below.
        if numerator >= 0:
            return (2 * numerator + denominator) // (2 * denominator)
        return -((denominator - 2 * numerator) // (2 * denominator))
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


def line_amount(price: int, quantity_milli: int) -> int:
    """Price (minor units) x quantity (thousandths), rounded half-up to the minor unit.

    This is the line sum *before* discount and markup; see ``net_line_amount`` for the amount that
    goes into totals and VAT.
    """
    product = price * quantity_milli
    if type(product) is int:
        # round_half_up(product, QUANTITY_SCALE) inlined: this runs for every line amount asked for.
        if product >= 0:
            return (product + _HALF_QUANTITY) // QUANTITY_SCALE
        return -((_HALF_QUANTITY - product) // QUANTITY_SCALE)
    return round_half_up(product, QUANTITY_SCALE)


def net_line_amount(price: int, quantity_milli: int, discount: int = 0, markup: int = 0) -> int:
    """Line amount after discount and markup: ``line_amount - discount + markup``.

    Discount and markup are absolute amounts in minor units, already rounded; VAT is computed on
    this result (reference section 3: "on the line sum after discount and markup").
    """
    return line_amount(price, quantity_milli) - discount + markup


def _rate_ratio(rate: Decimal | int) -> tuple[int, int]:
    """The rate as an exact fraction ``p/q`` in lowest terms (``Decimal("12.5") -> (25, 2)``).

    ``Decimal.as_integer_ratio`` is exact and the same pair ``Fraction(rate)`` gives, without building a
    ``Fraction`` (which cost more than the rest of ``vat_included``).
    """
    if isinstance(rate, bool) or isinstance(rate, float):
        raise TypeError("VAT rate must be a Decimal or an int, not float/bool")
    if isinstance(rate, Decimal):
        if not rate.is_finite():
            raise ValueError("VAT rate must be finite")
        return rate.as_integer_ratio()
    if isinstance(rate, int):
        return int(rate), 1
    exact = Fraction(rate)  # anything else Fraction accepts, as before (raises TypeError otherwise)
    return exact.numerator, exact.denominator


def vat_included(amount: int, rate: Decimal | int) -> int:
    """The VAT contained in a VAT-inclusive ``amount`` at ``rate`` percent, rounded half-up.

    ``amount * r / (100 + r)``, computed exactly in integers (``r = p/q``) so a rate like
    ``Decimal("12.5")`` does not pass through binary floats. ``vat_included(50000, Decimal(12)) == 5357``.
    A "20/120" calculated rate uses the same formula with r = 20.
    """
    p, q = _rate_ratio(rate)
    if p < 0:
        raise ValueError("VAT rate must not be negative")
    # amount * (p/q) / (100 + p/q) == amount * p / (100q + p)
    return round_half_up(amount * p, 100 * q + p)


def to_decimal(minor: int, digits: int = 2) -> Decimal:
    """Minor units back to a ``Decimal`` in major units, exactly: ``to_decimal(5357) == Decimal("53.57")``."""
    return Decimal(minor).scaleb(-digits) if digits else Decimal(minor)


def format_amount(minor: int, digits: int = 2) -> str:
    """Minor units as a plain decimal string with exactly ``digits`` decimals (``"53.57"``)."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**digits)
    if digits == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{digits}d}"


def format_quantity(milli: int) -> str:
    """Thousandths as the shortest plain decimal string (``1500 -> "1.5"``, ``2000 -> "2"``)."""
    text = format_amount(milli, QUANTITY_DIGITS)
    return text.rstrip("0").rstrip(".")


# A plain decimal number as a string. Exponents are allowed because JSON allows them (``1e3``);
# "NaN"/"Infinity" are matched separately so their error says so.
_NUMBER_RE: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NON_FINITE_RE: Final = re.compile(r"[+-]?(?:nan|snan|inf|infinity)", re.IGNORECASE)
# Exponent guard: a value with more than this many integer digits is rejected before any
# arithmetic, so "1e999999999" cannot make us build a gigantic integer.
_MAX_INTEGER_DIGITS: Final = 40
# ``parse_scaled``'s fast path: powers of ten for the usual digit counts.
_POWERS_OF_TEN: Final = tuple(10**n for n in range(10))
_FAST_INT_LIMIT: Final = 10**_MAX_INTEGER_DIGITS
#: A numeric string longer than this is refused (``not_a_number``) before it is read.
_MAX_TEXT: Final = 200


def parse_scaled(
    value: object,
    path: str,
    digits: int,
    *,
    max_scaled: int,
    what: str = "value",
) -> int:
    """Turn a JSON number or numeric string into an exact integer count of ``10**-digits`` units.

    Accepts ``int``, ``Decimal`` (JSON parsed with ``parse_float=Decimal``) and ``str``. Rejects, each
    with its own code and the field ``path``:

    - ``float`` (``float_not_allowed``): it has already lost exactness; parse JSON with
      ``parse_float=Decimal`` or send a string;
    - ``bool`` and other types (``not_a_number``): ``true`` is an int in Python but never an amount;
    - malformed strings (``not_a_number``); NaN / Infinity (``not_finite``);
    - negative values (``negative_value``);
    - values with more precision than ``digits`` (``too_many_decimals``). The *value* decides, not
      the spelling: ``"1.500"`` is exactly 1.50 and is accepted for a 2-digit currency, ``"1.505"``
      is not; nothing is ever rounded silently;
    - values above ``max_scaled`` units (``value_too_large``).
    """
    # Fast path for the usual well-formed input (a plain unsigned decimal string, as the HTTP layer
    # journals amounts, or a non-negative int): integer arithmetic on the digits, no Decimal. Anything
    # else, and anything that is not a valid value, takes the general path below, so every error keeps
    # its code and message. tests/model check both paths give the same answers.
    if 0 <= digits < len(_POWERS_OF_TEN):
        if type(value) is str:
            text = value.strip()
            whole, _, fraction = text.partition(".")
            # ASCII digits, optionally a point and more ASCII digits (other scripts' digits, signs,
            # exponents and every malformed text go the general way).
            if whole.isdigit() and whole.isascii() and len(whole) <= _MAX_INTEGER_DIGITS and len(text) <= _MAX_TEXT:
                fraction = fraction.rstrip("0")  # "1.500" is 1.5: trailing zeros are spelling, not precision
                if not fraction or (len(fraction) <= digits and fraction.isdigit() and fraction.isascii()):
                    scaled = int(whole) * _POWERS_OF_TEN[digits]
                    if fraction:
                        scaled += int(fraction) * _POWERS_OF_TEN[digits - len(fraction)]
                    if scaled <= max_scaled:
                        return scaled
        elif type(value) is int and 0 <= value < _FAST_INT_LIMIT:
            scaled = value * _POWERS_OF_TEN[digits]
            if scaled <= max_scaled:
                return scaled
    return _parse_scaled_general(value, path, digits, max_scaled=max_scaled, what=what)


def _parse_scaled_general(value: object, path: str, digits: int, *, max_scaled: int, what: str) -> int:
    """``parse_scaled`` for every input, through ``Decimal``; the reference the fast path must agree with."""
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
        number = Decimal(value) if abs(value) < 10**_MAX_INTEGER_DIGITS else None
        if number is None:
            raise InputError("value_too_large", path, f"{what} is too large")
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if _NON_FINITE_RE.fullmatch(text):
            raise InputError("not_finite", path, f"{what} must be a finite number, got {value!r}")
        if not _NUMBER_RE.fullmatch(text) or len(text) > _MAX_TEXT:
            raise InputError("not_a_number", path, f"{what} is not a decimal number: {value[:40]!r}")
        number = Decimal(text)
    else:
        raise InputError(
            "not_a_number", path, f"{what} must be a number or a numeric string, not {type(value).__name__}"
        )

    if not number.is_finite():
        raise InputError("not_finite", path, f"{what} must be a finite number, got {number}")
    sign, digit_tuple, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    coefficient = int("".join(map(str, digit_tuple))) if digit_tuple else 0
    if sign and coefficient != 0:
        raise InputError("negative_value", path, f"{what} must not be negative, got {number}")
    if coefficient == 0:
        return 0
    if number.adjusted() >= _MAX_INTEGER_DIGITS:
        raise InputError("value_too_large", path, f"{what} is too large")

    shift = exponent + digits
    if shift >= 0:
        scaled = coefficient * 10**shift
    else:
        drop = -shift
        # If the fractional part is longer than the whole coefficient, the value cannot be a
        # whole number of units (coefficient != 0); avoid building 10**huge.
        if drop > len(digit_tuple):
            raise InputError(
                "too_many_decimals", path, f"{what} has more than {digits} decimal places: {number}"
            )
        scaled, rest = divmod(coefficient, 10**drop)
        if rest:
            raise InputError(
                "too_many_decimals", path, f"{what} has more than {digits} decimal places: {number}"
            )
    if scaled > max_scaled:
        raise InputError(
            "value_too_large",
            path,
            f"{what} {format_amount(scaled, digits)} is above the allowed maximum "
            f"{format_amount(max_scaled, digits)}",
        )
    return scaled


def parse_amount(
    value: object, path: str, minor_digits: int = 2, *, max_minor: int = DEFAULT_MAX_AMOUNT
) -> int:
    """Parse a money amount in major units (``"500.25"`` tenge) into exact minor units (``50025``).

    See ``parse_scaled`` for what is rejected and with which code. Zero is a valid amount.
    """
    return parse_scaled(value, path, minor_digits, max_scaled=max_minor, what="amount")


def parse_quantity(
    value: object, path: str, *, max_milli: int = DEFAULT_MAX_QUANTITY, allow_zero: bool = False
) -> int:
    """Parse a quantity (``"1.5"``) into integer thousandths (``1500``).

    Zero is rejected (``quantity_not_positive``) unless ``allow_zero``: a receipt line selling
    nothing is a client bug, and the device refuses it anyway.
    """
    milli = parse_scaled(value, path, QUANTITY_DIGITS, max_scaled=max_milli, what="quantity")
    if milli == 0 and not allow_zero:
        raise InputError("quantity_not_positive", path, "quantity must be greater than zero")
    return milli
