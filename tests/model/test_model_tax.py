"""VAT rates and dated tax profiles."""

from __future__ import annotations

import tomllib
from datetime import date, datetime
from decimal import Decimal

import pytest

from kkm_bridge.model.errors import ConfigError, InputError
from kkm_bridge.model.tax import (
    DEFAULT_PROFILES,
    KZ_PROFILE,
    NO_VAT,
    RU_PROFILE,
    UZ_PROFILE,
    VatRate,
    get_profile,
    profile_from_config,
    profiles_from_config,
)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("12", "12"), ("12%", "12"), (" 12 % ", "12"), (12, "12"), (Decimal("12"), "12"), (Decimal("12.00"), "12"),
        (Decimal("1.2E+1"), "12"), ("0", "0"), (0, "0"), ("none", "none"), ("NO_VAT", "none"), ("no-vat", "none"),
        (None, "none"), ("20/120", "20/120"), ("10/110", "10/110"), ("22/122", "22/122"), ("12.5", "12.5"),
        ("16", "16"), ("5", "5"),
    ],
)
def test_vat_rate_parse(value: object, code: str) -> None:
    assert VatRate.parse(value, "/r").code == code


@pytest.mark.parametrize("value", [12.0, True, "-1", "101", "abc", "", "20/100", "0/100", Decimal("NaN"), "1e1", [12]])
def test_vat_rate_parse_rejects(value: object) -> None:
    with pytest.raises(InputError) as info:
        VatRate.parse(value, "/items/0/vat_rate")
    assert info.value.code == "bad_vat_rate"
    assert info.value.path == "/items/0/vat_rate"
    assert info.value.message.startswith("Incorrect VAT rate")


def test_zero_and_none_are_different() -> None:
    assert VatRate.parse("0") != NO_VAT
    assert VatRate.parse("20/120") != VatRate.parse("20")
    assert VatRate.parse("12") == VatRate(Decimal("12.0"))
    assert hash(VatRate.parse("12")) == hash(VatRate(Decimal(12)))


def test_vat_rate_amounts() -> None:
    assert VatRate.parse("12").vat(50000) == 5357
    assert VatRate.parse("20/120").vat(12000) == 2000
    assert NO_VAT.vat(50000) == 0
    assert VatRate.parse("0").vat(50000) == 0


def test_vat_rate_construct_guards() -> None:
    with pytest.raises(ValueError):
        VatRate(Decimal(-1))
    with pytest.raises(ValueError):
        VatRate(None, calculated=True)
    with pytest.raises(TypeError):
        VatRate(12.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("profile", "day", "codes"),
    [
        (KZ_PROFILE, date(2025, 12, 31), ["12", "0", "none"]),
        (KZ_PROFILE, date(2026, 1, 1), ["16", "10", "5", "0", "none"]),
        (KZ_PROFILE, datetime(2025, 12, 31, 23, 59, 59), ["12", "0", "none"]),
        (KZ_PROFILE, datetime(2026, 1, 1, 0, 0, 0), ["16", "10", "5", "0", "none"]),
        (KZ_PROFILE, date(2019, 5, 1), ["12", "0", "none"]),
        (UZ_PROFILE, date(2025, 12, 31), ["12", "0", "none"]),
        (UZ_PROFILE, date(2026, 1, 1), ["12", "0", "none"]),
        (RU_PROFILE, date(2025, 12, 31), ["20", "20/120", "10", "10/110", "0", "none"]),
        (RU_PROFILE, date(2026, 1, 1), ["22", "22/122", "20", "20/120", "10", "10/110", "0", "none"]),
    ],
)
def test_profiles_by_date(profile, day, codes) -> None:  # type: ignore[no-untyped-def]
    assert profile.allowed_codes(day) == codes


def test_kz_switch_day() -> None:
    sixteen, twelve = VatRate.parse("16"), VatRate.parse("12")
    assert KZ_PROFILE.allows(twelve, date(2025, 12, 31)) and not KZ_PROFILE.allows(sixteen, date(2025, 12, 31))
    assert KZ_PROFILE.allows(sixteen, date(2026, 1, 1)) and not KZ_PROFILE.allows(twelve, date(2026, 1, 1))


def test_ru_22_only_from_2026() -> None:
    assert not RU_PROFILE.allows(VatRate.parse("22"), date(2025, 12, 31))
    assert RU_PROFILE.allows(VatRate.parse("22"), date(2026, 1, 1))


def test_check_rate_message_lists_allowed() -> None:
    problem = KZ_PROFILE.check_rate(VatRate.parse("12"), date(2026, 3, 1), "/items/2/vat_rate")
    assert problem is not None
    assert problem.code == "vat_rate_not_allowed"
    assert problem.path == "/items/2/vat_rate"
    assert problem.message.startswith("Incorrect VAT rate 12")
    assert "16, 10, 5, 0, none" in problem.message
    assert KZ_PROFILE.check_rate(VatRate.parse("16"), date(2026, 3, 1), "/x") is None


def test_get_profile() -> None:
    assert get_profile("kz") is KZ_PROFILE
    custom = profile_from_config({"country": "KZ", "rates": ["12"]})
    assert get_profile("KZ", {"KZ": custom}) is custom
    with pytest.raises(ConfigError):
        get_profile("XX")


def test_profile_from_toml() -> None:
    text = """
    country = "KZ"
    name = "Kazakhstan, operator override"
    [[periods]]
    rates = ["12", "0", "none"]
    [[periods]]
    since = 2026-01-01
    rates = ["16", "0", "none"]
    [[periods]]
    since = "2027-01-01"
    rates = ["16", "10", "0", "none"]
    """
    profile = profile_from_config(tomllib.loads(text))
    assert profile.country == "KZ"
    assert profile.allowed_codes(date(2025, 6, 1)) == ["12", "0", "none"]
    assert profile.allowed_codes(date(2026, 6, 1)) == ["16", "0", "none"]
    assert profile.allowed_codes(date(2027, 6, 1)) == ["16", "10", "0", "none"]


def test_profile_from_config_default_matches_builtin() -> None:
    config = {
        "country": "KZ",
        "periods": [
            {"since": "2026-01-01", "rates": ["16", "10", "5", "0", "none"]},
            {"since": None, "rates": ["12", "0", "none"]},
        ],
    }
    profile = profile_from_config(config)
    assert profile.periods == KZ_PROFILE.periods


def test_profile_before_first_period_allows_nothing() -> None:
    profile = profile_from_config({"country": "KZ", "periods": [{"since": "2026-01-01", "rates": ["16"]}]})
    assert profile.rates_on(date(2025, 1, 1)) == frozenset()
    problem = profile.check_rate(VatRate.parse("16"), date(2025, 1, 1), "/x")
    assert problem is not None and "(none)" in problem.message


@pytest.mark.parametrize(
    ("config", "code", "path"),
    [
        ([], "bad_profile", "/"),
        ({"rates": ["12"]}, "bad_country", "/country"),
        ({"country": "KAZ", "rates": ["12"]}, "bad_country", "/country"),
        ({"country": "KZ"}, "bad_profile", "/periods"),
        ({"country": "KZ", "periods": []}, "bad_profile", "/periods"),
        ({"country": "KZ", "rates": []}, "bad_profile", "/rates"),
        ({"country": "KZ", "rates": ["12", "abc"]}, "bad_vat_rate", "/rates/1"),
        ({"country": "KZ", "rates": [12.0]}, "bad_vat_rate", "/rates/0"),
        ({"country": "KZ", "periods": [{"since": "2026-13-01", "rates": ["12"]}]}, "bad_date", "/periods/0/since"),
        ({"country": "KZ", "periods": [{"from": "2026-01-01", "rates": ["12"]}]}, "unknown_field", "/periods/0/from"),
        ({"country": "KZ", "rates": ["12"], "extra": 1}, "unknown_field", "/extra"),
        ({"country": "KZ", "rates": ["12"], "periods": []}, "bad_profile", "/"),
        (
            {"country": "KZ", "periods": [{"rates": ["12"]}, {"since": None, "rates": ["0"]}]},
            "duplicate_period",
            "/periods",
        ),
    ],
)
def test_profile_config_errors(config: object, code: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        profile_from_config(config)  # type: ignore[arg-type]
    assert (info.value.code, info.value.path) == (code, path)


def test_profiles_from_config_replaces_only_given() -> None:
    profiles = profiles_from_config({"uz": {"rates": ["15", "0", "none"]}})
    assert profiles["KZ"] is KZ_PROFILE
    assert profiles["UZ"].allowed_codes(date(2026, 1, 1)) == ["15", "0", "none"]
    assert DEFAULT_PROFILES["UZ"] is UZ_PROFILE
    with pytest.raises(ConfigError) as info:
        profiles_from_config({"UZ": {"country": "KZ", "rates": ["12"]}})
    assert info.value.code == "bad_country"
