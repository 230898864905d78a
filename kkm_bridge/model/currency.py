"""Currencies as data: how many minor digits each one has.

Tenge = 100 tiyn, sum = 100 tiyin, rouble = 100 kopeks. Cash rounding to whole units (KZ tiyn coins
are out of circulation) is *not* a currency property: it is an open legal question (reference
section 7, item 4) and is left to configuration of the cash-rounding step, not to parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from .errors import InputError

__all__ = ["Currency", "CURRENCIES", "get_currency", "minor_digits"]


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency and the number of decimal digits of its minor unit."""

    code: str
    minor_digits: int
    name: str
    minor_name: str


CURRENCIES: Mapping[str, Currency] = MappingProxyType(
    {
        "KZT": Currency("KZT", 2, "tenge", "tiyn"),
        "UZS": Currency("UZS", 2, "sum", "tiyin"),
        "RUB": Currency("RUB", 2, "rouble", "kopek"),
    }
)


def get_currency(code: object, path: str = "/currency", table: Mapping[str, Currency] = CURRENCIES) -> Currency:
    """Look a currency up by its ISO code (case-insensitive); ``unknown_currency`` otherwise."""
    if isinstance(code, str) and code.strip().upper() in table:
        return table[code.strip().upper()]
    known = ", ".join(sorted(table))
    raise InputError("unknown_currency", path, f"Unknown currency {code!r}; known: {known}")


def minor_digits(code: str, table: Mapping[str, Currency] = CURRENCIES) -> int:
    """Minor digits of a currency code (``minor_digits("KZT") == 2``)."""
    return get_currency(code, table=table).minor_digits
