"""VAT rates and per-country tax profiles, as data.

A ``VatRate`` is a value: a ``Decimal`` percent, or ``None`` for "no VAT" (exempt / not a VAT payer),
identified by a string code: ``"12"``, ``"0"``, ``"none"``, ``"20/120"``. ``"0"`` and ``"none"`` are
different things on a receipt (zero-rated export vs. exempt) and must never be merged.

A ``TaxProfile`` lists which rates are allowed in a country, by effective date, because rates change
by law on a fixed day (Kazakhstan's new Tax Code on 2026-01-01) and the rate that applies is the one in
force on the turnover date (reference section 3). Profiles are plain data so an operator can replace one
from configuration (``profile_from_config``) when a law changes before the software does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from .errors import ConfigError, InputError, Problem, join_path
from .money import vat_included

__all__ = [
    "VatRate",
    "NO_VAT",
    "TaxPeriod",
    "TaxProfile",
    "DEFAULT_PROFILES",
    "KZ_PROFILE",
    "UZ_PROFILE",
    "RU_PROFILE",
    "get_profile",
    "profile_from_config",
    "profiles_from_config",
]

_NO_VAT_WORDS = frozenset({"none", "no_vat", "novat", "no-vat", "no vat", "without_vat", "vat_none", "exempt"})
_PERCENT_RE = re.compile(r"(\d{1,3}(?:\.\d{1,4})?)\s*%?")
_CALCULATED_RE = re.compile(r"(\d{1,3}(?:\.\d{1,4})?)\s*/\s*(\d{1,3}(?:\.\d{1,4})?)")
_MAX_PERCENT = Decimal(100)


def _canonical(percent: Decimal) -> Decimal:
    """12, 12.0 and 1.2E+1 are the same rate; keep one spelling so codes and hashes agree."""
    normal = percent.normalize()
    # normalize() may produce an exponent form (1.2E+1); quantize back to a plain integer when whole.
    if normal == normal.to_integral_value():
        return Decimal(int(normal))
    return normal


@dataclass(frozen=True, slots=True)
class VatRate:
    """A VAT rate: ``percent`` (``Decimal``) or ``None`` for "no VAT".

    ``calculated`` marks the Russian "20/120" form (the rate applied to an advance payment): the VAT
    of an amount is the same as at 20 % included, but the device and the FFD tag 1199 code differ, so
    it is a distinct rate.
    """

    percent: Decimal | None
    calculated: bool = False

    def __post_init__(self) -> None:
        if self.percent is None:
            if self.calculated:
                raise ValueError("a calculated rate needs a percent")
            return
        if isinstance(self.percent, bool) or not isinstance(self.percent, (Decimal, int)):
            raise TypeError("VatRate.percent must be a Decimal, an int or None")
        percent = Decimal(self.percent)
        if not percent.is_finite() or percent < 0 or percent > _MAX_PERCENT:
            raise ValueError(f"VAT percent out of range: {self.percent}")
        object.__setattr__(self, "percent", _canonical(percent))

    @property
    def is_no_vat(self) -> bool:
        return self.percent is None

    @property
    def code(self) -> str:
        """The stable string code: ``"12"``, ``"0"``, ``"none"``, ``"20/120"``, ``"12.5"``."""
        if self.percent is None:
            return "none"
        text = format(self.percent, "f")
        if self.calculated:
            return f"{text}/{format(self.percent + 100, 'f')}"
        return text

    def vat(self, amount: int) -> int:
        """VAT included in ``amount`` minor units at this rate (0 for "no VAT")."""
        if self.percent is None:
            return 0
        return vat_included(amount, self.percent)

    def __str__(self) -> str:
        return self.code

    @classmethod
    def parse(cls, value: object, path: str = "") -> "VatRate":
        """Parse a rate code: ``"12"``, ``"12%"``, ``12``, ``Decimal("12")``, ``"0"``, ``"20/120"``,
        ``"none"`` / ``"no_vat"`` / ``None`` (JSON null).

        Raises ``InputError("bad_vat_rate")`` for something that is not a rate at all; whether a
        well-formed rate is *allowed* is the profile's business (``vat_rate_not_allowed``).
        """
        if isinstance(value, VatRate):
            return value
        if value is None:
            return NO_VAT
        if isinstance(value, bool) or isinstance(value, float):
            raise InputError(
                "bad_vat_rate", path, f"Incorrect VAT rate {value!r}: send a rate code such as \"12\" or \"none\""
            )
        if isinstance(value, int):
            value = Decimal(value)
        if isinstance(value, Decimal):
            if not value.is_finite() or value < 0 or value > _MAX_PERCENT:
                raise InputError("bad_vat_rate", path, f"Incorrect VAT rate {value}: out of range 0..100")
            return cls(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _NO_VAT_WORDS:
                return NO_VAT
            match = _PERCENT_RE.fullmatch(text)
            if match:
                percent = Decimal(match.group(1))
                if percent <= _MAX_PERCENT:
                    return cls(percent)
            match = _CALCULATED_RE.fullmatch(text)
            if match:
                rate, base = Decimal(match.group(1)), Decimal(match.group(2))
                if base == rate + 100 and rate > 0:
                    return cls(rate, calculated=True)
        raise InputError(
            "bad_vat_rate",
            path,
            f"Incorrect VAT rate {value!r}: expected a percent such as \"12\", a calculated rate such "
            "as \"20/120\", or \"none\"",
        )


NO_VAT = VatRate(None)


def _rates(*codes: str) -> frozenset[VatRate]:
    return frozenset(VatRate.parse(code) for code in codes)


@dataclass(frozen=True, slots=True)
class TaxPeriod:
    """The set of rates allowed from ``since`` (inclusive) until the next period starts.

    ``since=None`` means "from the beginning of time".
    """

    since: date | None
    rates: frozenset[VatRate]


def _sort_key(rate: VatRate) -> tuple[int, Decimal, bool]:
    # Highest percent first, plain before calculated, "no VAT" last: the order people read lists in.
    if rate.percent is None:
        return (1, Decimal(0), False)
    return (0, -rate.percent, rate.calculated)


@dataclass(frozen=True, slots=True)
class TaxProfile:
    """The VAT rates of one country over time."""

    country: str
    periods: tuple[TaxPeriod, ...]
    name: str = ""
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.periods:
            raise ConfigError("empty_profile", "/periods", f"tax profile {self.country} has no periods")
        ordered = tuple(sorted(self.periods, key=lambda p: p.since or date.min))
        starts = [p.since for p in ordered]
        if len(set(starts)) != len(starts):
            raise ConfigError("duplicate_period", "/periods", f"tax profile {self.country} repeats a start date")
        object.__setattr__(self, "periods", ordered)

    def rates_on(self, day: date | datetime) -> frozenset[VatRate]:
        """The rates in force on ``day`` (a datetime counts by its own calendar date).

        Before the first period with a start date (and no open-ended period), nothing is allowed.
        """
        if isinstance(day, datetime):
            day = day.date()
        current: frozenset[VatRate] = frozenset()
        for period in self.periods:
            if period.since is None or period.since <= day:
                current = period.rates
            else:
                break
        return current

    def allowed_codes(self, day: date | datetime) -> list[str]:
        """Codes of the rates in force on ``day``, in reading order (``["16", "10", "5", "0", "none"]``)."""
        return [r.code for r in sorted(self.rates_on(day), key=_sort_key)]

    def allows(self, rate: VatRate, day: date | datetime) -> bool:
        return rate in self.rates_on(day)

    def check_rate(self, rate: VatRate, day: date | datetime, path: str) -> Problem | None:
        """``None`` if allowed, else a ``vat_rate_not_allowed`` problem naming the allowed rates."""
        if self.allows(rate, day):
            return None
        when = day.date() if isinstance(day, datetime) else day
        allowed = ", ".join(self.allowed_codes(day)) or "(none)"
        return Problem(
            "vat_rate_not_allowed",
            path,
            f"Incorrect VAT rate {rate.code}: allowed rates in {self.country} on {when.isoformat()} "
            f"are {allowed}",
        )


# --- The default profiles ---------------------------------------------------------------------------

KZ_PROFILE = TaxProfile(
    country="KZ",
    name="Kazakhstan",
    periods=(
        # Old Tax Code: 12 % standard (every Webkassa example uses TaxPercent 12).
        TaxPeriod(None, _rates("12", "0", "none")),
        # New Tax Code (Law No. 214-VIII) from 2026-01-01: 16 % base; 10 % periodicals; 5 % medicines
        # in 2026 (10 % from 2027, which 10 already covers). 5 % is kept open-ended on purpose: the
        # reference does not say whether anything else stays at 5 % in 2027, and an operator can
        # replace the profile from configuration when that becomes clear.
        TaxPeriod(date(2026, 1, 1), _rates("16", "10", "5", "0", "none")),
    ),
)

UZ_PROFILE = TaxProfile(
    country="UZ",
    name="Uzbekistan",
    # 12 % since 2023 (15 % before; the reference marks 12 % as unconfirmed, section 7 item 7).
    periods=(TaxPeriod(None, _rates("12", "0", "none")),),
)

RU_PROFILE = TaxProfile(
    country="RU",
    name="Russia",
    periods=(
        TaxPeriod(None, _rates("20", "10", "0", "20/120", "10/110", "none")),
        # From 2026-01-01 the standard rate is 22 % (reference 5.4: "22 % is the 2026 RF rate"; ATOL
        # Online has vat22/vat122). Decision: 20 and 20/120 STAY allowed after that date. The
        # reference does not say they are withdrawn, the issue lists 20 without an end date, and a
        # return made in 2026 for a 2025 sale must repeat the original 20 % rate; rejecting 20 here
        # would block those refunds. An operator who wants 2026 sales at 20 % refused can replace the
        # profile from configuration. 22/122 (the calculated form) is added alongside 22.
        TaxPeriod(date(2026, 1, 1), _rates("22", "20", "10", "0", "22/122", "20/120", "10/110", "none")),
    ),
)

DEFAULT_PROFILES: Mapping[str, TaxProfile] = MappingProxyType(
    {"KZ": KZ_PROFILE, "UZ": UZ_PROFILE, "RU": RU_PROFILE}
)


def get_profile(country: str, overrides: Mapping[str, TaxProfile] | None = None) -> TaxProfile:
    """The profile for ``country``: an override when configured, else the built-in default."""
    key = country.strip().upper()
    if overrides and key in overrides:
        return overrides[key]
    if key in DEFAULT_PROFILES:
        return DEFAULT_PROFILES[key]
    raise ConfigError("unknown_country", "/country", f"no tax profile for country {country!r}")


# --- Configuration ----------------------------------------------------------------------------------


def _config_date(value: object, path: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError("bad_date", path, f"expected an ISO date such as 2026-01-01, got {value!r}")


def profile_from_config(config: Mapping[str, Any], path: str = "") -> TaxProfile:
    """Build a ``TaxProfile`` from a plain structure, as found in a TOML or JSON configuration file.

    Shape (``since`` may be omitted or null for the first period; TOML dates are accepted as is)::

        {"country": "KZ", "name": "Kazakhstan",
         "periods": [{"since": null, "rates": ["12", "0", "none"]},
                     {"since": "2026-01-01", "rates": ["16", "10", "5", "0", "none"]}]}

    A shorthand for a profile that never changed: ``{"country": "UZ", "rates": ["12", "0", "none"]}``.
    Every mistake raises ``ConfigError`` with the path inside the structure.
    """
    if not isinstance(config, Mapping):
        raise ConfigError("bad_profile", path or "/", "a tax profile must be a table/object")
    country = config.get("country")
    if not isinstance(country, str) or not re.fullmatch(r"[A-Za-z]{2}", country.strip()):
        raise ConfigError("bad_country", join_path(path, "country"), "country must be a 2-letter code")
    name = config.get("name", "")
    if not isinstance(name, str):
        raise ConfigError("bad_profile", join_path(path, "name"), "name must be a string")
    known = {"country", "name", "periods", "rates", "notes"}
    for key in config:
        if key not in known:
            raise ConfigError("unknown_field", join_path(path, str(key)), f"unknown profile field {key!r}")

    if "periods" in config and "rates" in config:
        raise ConfigError("bad_profile", path or "/", "give either 'periods' or 'rates', not both")
    if "rates" in config:
        raw_periods: Iterable[Any] = [{"since": None, "rates": config["rates"]}]
        periods_path = path
        shorthand = True
    else:
        raw_periods = config.get("periods", ())
        periods_path = join_path(path, "periods")
        shorthand = False
        if not isinstance(raw_periods, (list, tuple)) or not raw_periods:
            raise ConfigError("bad_profile", periods_path, "periods must be a non-empty list")

    periods: list[TaxPeriod] = []
    for index, raw in enumerate(raw_periods):
        ppath = periods_path if shorthand else join_path(periods_path, index)
        if not isinstance(raw, Mapping):
            raise ConfigError("bad_profile", ppath, "a period must be a table/object")
        for key in raw:
            if key not in ("since", "rates"):
                raise ConfigError("unknown_field", join_path(ppath, str(key)), f"unknown period field {key!r}")
        since = _config_date(raw.get("since"), join_path(ppath, "since"))
        raw_rates = raw.get("rates")
        rpath = join_path(ppath, "rates")
        if not isinstance(raw_rates, (list, tuple)) or not raw_rates:
            raise ConfigError("bad_profile", rpath, "rates must be a non-empty list of rate codes")
        rates: set[VatRate] = set()
        for rindex, code in enumerate(raw_rates):
            if isinstance(code, float):
                raise ConfigError(
                    "bad_vat_rate", join_path(rpath, rindex), "write rates as strings or integers, not floats"
                )
            try:
                rates.add(VatRate.parse(code, join_path(rpath, rindex)))
            except InputError as exc:
                raise ConfigError(exc.code, exc.path, exc.message) from exc
        periods.append(TaxPeriod(since, frozenset(rates)))
    try:
        return TaxProfile(country=country.strip().upper(), periods=tuple(periods), name=name,
                          notes=str(config.get("notes", "")))
    except ConfigError as exc:
        raise ConfigError(exc.code, join_path(path, "periods"), exc.message) from exc


def profiles_from_config(config: Mapping[str, Any], path: str = "") -> dict[str, TaxProfile]:
    """Default profiles with the configured ones replacing them, keyed by country.

    ``config`` maps a country code to a profile table (the ``country`` key inside may be omitted)::

        {"KZ": {"periods": [...]}, "UZ": {"rates": ["12", "0", "none"]}}
    """
    result = dict(DEFAULT_PROFILES)
    for key, table in config.items():
        tpath = join_path(path, str(key))
        if not isinstance(table, Mapping):
            raise ConfigError("bad_profile", tpath, "a tax profile must be a table/object")
        merged = {"country": key, **table}
        profile = profile_from_config(merged, tpath)
        if profile.country != str(key).strip().upper():
            raise ConfigError("bad_country", join_path(tpath, "country"), "country does not match its key")
        result[profile.country] = profile
    return result
