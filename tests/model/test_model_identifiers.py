"""Identifiers: KZ IIN/BIN vectors (tests/data/kz_ids.json), UZ PINFL/TIN, RU INN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kkm_bridge.model.errors import InputError
from kkm_bridge.model.identifiers import (
    KzIdKind,
    is_valid_kz_iin_bin,
    is_valid_pinfl,
    kz_check_digit,
    kz_id_kind,
    pinfl_check_digit,
    validate_kz_iin_bin,
    validate_pinfl,
    validate_ru_inn,
    validate_uz_tax_id,
    validate_uz_tin,
)

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "kz_ids.json").read_text(encoding="utf-8"))
REASON_CODES = {
    "check digit": "bad_iin_checksum",
    "both passes give 10": "bad_iin_checksum",
    "length": "bad_iin_format",
    "non-digit": "bad_iin_format",
}


def test_vector_file_is_complete() -> None:
    assert len(VECTORS["valid"]) == 16
    assert len(VECTORS["invalid"]) == 10


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["value"])
def test_valid_kz_ids(case: dict) -> None:  # type: ignore[type-arg]
    value = case["value"]
    assert validate_kz_iin_bin(value, "/client/tax_id") == value
    assert is_valid_kz_iin_bin(value)
    assert kz_id_kind(value) == KzIdKind(case["kind"])
    # The "pass" field says which weight pass produced the check digit.
    first = sum(int(d) * w for d, w in zip(value[:11], range(1, 12))) % 11
    assert (first != 10) == (case["pass"] == 1)
    assert kz_check_digit(value[:11]) == int(value[11])


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["value"] or "empty")
def test_invalid_kz_ids(case: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError) as info:
        validate_kz_iin_bin(case["value"], "/client/tax_id")
    assert info.value.code == REASON_CODES[case["reason"]]
    assert info.value.path == "/client/tax_id"
    assert not is_valid_kz_iin_bin(case["value"])


def test_both_passes_ten_has_no_check_digit() -> None:
    assert kz_check_digit("90010130080") is None
    for last in "0123456789":
        assert not is_valid_kz_iin_bin("90010130080" + last)


@pytest.mark.parametrize("value", [None, 900101300126, "９００１０１３００１２６", "900101300126 "])
def test_kz_id_wrong_types(value: object) -> None:
    with pytest.raises(InputError) as info:
        validate_kz_iin_bin(value, "/p")
    assert info.value.code == "bad_iin_format"


def test_pinfl_reference_example() -> None:
    assert pinfl_check_digit("3150890001123") == 5
    assert validate_pinfl("31508900011235", "/p") == "31508900011235"
    assert is_valid_pinfl("31508900011235")


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("31508900011234", "bad_pinfl_checksum"),
        ("3150890001123", "bad_pinfl_format"),
        ("315089000112350", "bad_pinfl_format"),
        ("71508900011235", "bad_pinfl_format"),
        ("3150890001123A", "bad_pinfl_format"),
        (31508900011235, "bad_pinfl_format"),
    ],
)
def test_pinfl_rejects(value: object, code: str) -> None:
    with pytest.raises(InputError) as info:
        validate_pinfl(value, "/client/tax_id")
    assert (info.value.code, info.value.path) == (code, "/client/tax_id")


def test_pinfl_every_wrong_check_digit_fails() -> None:
    for digit in "0123456789":
        assert is_valid_pinfl("3150890001123" + digit) == (digit == "5")


def test_uz_tin() -> None:
    assert validate_uz_tin("123456789", "/t") == "123456789"
    for bad in ("12345678", "1234567890", "12345678A", "", None):
        with pytest.raises(InputError) as info:
            validate_uz_tin(bad, "/t")
        assert info.value.code == "bad_tin_format"


def test_uz_tax_id_dispatch() -> None:
    assert validate_uz_tax_id("31508900011235", "/t") == "31508900011235"
    assert validate_uz_tax_id("123456789", "/t") == "123456789"
    with pytest.raises(InputError) as info:
        validate_uz_tax_id("31508900011234", "/t")
    assert info.value.code == "bad_pinfl_checksum"
    with pytest.raises(InputError) as info:
        validate_uz_tax_id("12345", "/t")
    assert info.value.code == "bad_tin_format"


def test_ru_inn_length() -> None:
    assert validate_ru_inn("7707083893", "/i") == "7707083893"
    assert validate_ru_inn("500100732259", "/i") == "500100732259"
    with pytest.raises(InputError) as info:
        validate_ru_inn("12345", "/i")
    assert info.value.code == "bad_inn_format"
