"""Taxpayer identifiers: Kazakhstan IIN/BIN, Uzbekistan PINFL and TIN, Russian INN (length only).

Checked here so a receipt with a mistyped buyer number is refused before it reaches the device and the
tax authority (whose rejection would come back much later, offline). Algorithms: reference section 4.

Every ``validate_*`` function raises ``InputError`` with a stable code and the field path; the
``is_valid_*`` twins return a bool for callers that only need a yes/no.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from .errors import InputError

__all__ = [
    "KzIdKind",
    "kz_check_digit",
    "is_valid_kz_iin_bin",
    "validate_kz_iin_bin",
    "kz_id_kind",
    "pinfl_check_digit",
    "is_valid_pinfl",
    "validate_pinfl",
    "validate_uz_tin",
    "validate_ru_inn",
    "validate_uz_tax_id",
]

_KZ_WEIGHTS_1: Final = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_KZ_WEIGHTS_2: Final = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_PINFL_WEIGHTS: Final = (7, 3, 1) * 5  # 15 >= 13 weights: 7,3,1,7,3,1,...,7


def _ascii_digits(value: object, length: int) -> bool:
    # str.isdigit() accepts non-ASCII digits such as "١"; identifiers are ASCII only.
    return isinstance(value, str) and len(value) == length and value.isascii() and value.isdigit()


class KzIdKind(StrEnum):
    """Whether a 12-digit Kazakh number names a person (IIN) or an organisation (BIN)."""

    IIN = "IIN"
    BIN = "BIN"


def kz_check_digit(first11: str) -> int | None:
    """Check digit for the first 11 digits of an IIN/BIN, or ``None`` if none exists.

    Two passes mod 11: weights 1..11, and if that gives 10, weights 3..11,1,2. If the second pass gives
    10 too, the number is never issued (one implementation uses 0 instead; rejecting is safer).
    """
    if not _ascii_digits(first11, 11):
        raise ValueError("kz_check_digit needs exactly 11 ASCII digits")
    digits = [int(c) for c in first11]
    check = sum(d * w for d, w in zip(digits, _KZ_WEIGHTS_1)) % 11
    if check == 10:
        check = sum(d * w for d, w in zip(digits, _KZ_WEIGHTS_2)) % 11
        if check == 10:
            return None
    return check


def validate_kz_iin_bin(value: object, path: str, what: str = "IIN/BIN") -> str:
    """Return ``value`` if it is a valid IIN/BIN, else raise ``bad_iin_format`` / ``bad_iin_checksum``."""
    if not _ascii_digits(value, 12):
        raise InputError("bad_iin_format", path, f"{what} must be exactly 12 digits")
    assert isinstance(value, str)
    expected = kz_check_digit(value[:11])
    if expected is None or expected != int(value[11]):
        raise InputError("bad_iin_checksum", path, f"{what} {value} has a wrong check digit")
    return value


def is_valid_kz_iin_bin(value: object) -> bool:
    try:
        validate_kz_iin_bin(value, "")
    except InputError:
        return False
    return True


def kz_id_kind(value: str) -> KzIdKind:
    """IIN or BIN, by the 5th digit: 0-3 = individual / sole trader, 4-6 = organisation.

    (The split is from one public validator, reference 4.1; used for display, never to reject.)
    """
    if not _ascii_digits(value, 12):
        raise ValueError("kz_id_kind needs 12 ASCII digits")
    return KzIdKind.BIN if value[4] in "456" else KzIdKind.IIN


def pinfl_check_digit(first13: str) -> int:
    """PINFL check digit (the 14th digit): sum of the first 13 digits x 7,3,1,... mod 10.

    The majority rule in public implementations (one uses mod 11 mod 10; reference 4.2).
    ``pinfl_check_digit("3150890001123") == 5``.
    """
    if not _ascii_digits(first13, 13):
        raise ValueError("pinfl_check_digit needs exactly 13 ASCII digits")
    return sum(int(c) * w for c, w in zip(first13, _PINFL_WEIGHTS)) % 10


def validate_pinfl(value: object, path: str) -> str:
    """Return ``value`` if it is a valid PINFL, else ``bad_pinfl_format`` / ``bad_pinfl_checksum``.

    Besides the check digit, the first digit (century and sex) must be 1..6.
    """
    if not _ascii_digits(value, 14) or value[0] not in "123456":  # type: ignore[index]
        raise InputError("bad_pinfl_format", path, "PINFL must be 14 digits starting with 1-6")
    assert isinstance(value, str)
    if pinfl_check_digit(value[:13]) != int(value[13]):
        raise InputError("bad_pinfl_checksum", path, f"PINFL {value} has a wrong check digit")
    return value


def is_valid_pinfl(value: object) -> bool:
    try:
        validate_pinfl(value, "")
    except InputError:
        return False
    return True


def validate_uz_tin(value: object, path: str) -> str:
    """Uzbek TIN (STIR/INN): 9 digits. Length only: its check-digit rule is unconfirmed (reference 4.2)."""
    if not _ascii_digits(value, 9):
        raise InputError("bad_tin_format", path, "TIN must be exactly 9 digits")
    assert isinstance(value, str)
    return value


def validate_uz_tax_id(value: object, path: str) -> str:
    """A Uzbek buyer identifier: a 14-digit PINFL (person) or a 9-digit TIN (organisation)."""
    if isinstance(value, str) and len(value) == 14:
        return validate_pinfl(value, path)
    if isinstance(value, str) and len(value) == 9:
        return validate_uz_tin(value, path)
    raise InputError("bad_tin_format", path, "expected a 14-digit PINFL or a 9-digit TIN")


def validate_ru_inn(value: object, path: str) -> str:
    """Russian INN: 10 digits (organisation) or 12 (person). Length only: not covered by the reference."""
    if not (_ascii_digits(value, 10) or _ascii_digits(value, 12)):
        raise InputError("bad_inn_format", path, "INN must be 10 or 12 digits")
    assert isinstance(value, str)
    return value
