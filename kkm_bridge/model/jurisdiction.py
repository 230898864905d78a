"""Per-country rules that are data: currency, buyer-identifier kind, payment and operation codes.

The tax rates live in ``tax`` (they change by date); everything else that differs between Kazakhstan,
Uzbekistan and Russia is here, so supporting another country or a rule change means editing a table,
not adding ``if country == ...`` branches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Callable, Mapping

from .errors import ConfigError
from .identifiers import validate_kz_iin_bin, validate_ru_inn, validate_uz_tax_id
from .receipt import ItemKind, Operation, PaymentType

__all__ = ["TaxIdRule", "Jurisdiction", "JURISDICTIONS", "KZ", "UZ", "RU", "get_jurisdiction"]


class TaxIdRule(StrEnum):
    """Which identifier a buyer's ``tax_id`` must be in a country."""

    KZ_IIN_BIN = "kz_iin_bin"  # 12 digits, two-pass mod 11
    UZ_PINFL_OR_TIN = "uz_pinfl_or_tin"  # 14-digit PINFL or 9-digit TIN
    RU_INN = "ru_inn"  # 10 or 12 digits

    @property
    def validator(self) -> Callable[[object, str], str]:
        return _VALIDATORS[self]


_VALIDATORS: Mapping[TaxIdRule, Callable[[object, str], str]] = {
    TaxIdRule.KZ_IIN_BIN: validate_kz_iin_bin,
    TaxIdRule.UZ_PINFL_OR_TIN: validate_uz_tax_id,
    TaxIdRule.RU_INN: validate_ru_inn,
}


def _frozen(mapping: Mapping) -> Mapping:  # type: ignore[type-arg]
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Jurisdiction:
    """Country rules other than VAT rates.

    ``payment_codes`` / ``operation_codes`` / ``item_kind_codes`` are the numbers (or field names) the
    country's fiscal protocol or main cloud API uses; the HTTP dialects and the OFD side map through
    them. ``product_code_digits`` is the length of a mandatory product classifier code (Uzbek IKPU/MXIK,
    17 digits), ``None`` where the code is free-form.
    """

    country: str
    currency: str
    tax_id_rule: TaxIdRule
    cashier_id_rule: TaxIdRule | None
    payment_codes: Mapping[PaymentType, int | str]
    operation_codes: Mapping[Operation, int | str] = field(default_factory=dict)
    item_kind_codes: Mapping[ItemKind, int | str] = field(default_factory=dict)
    product_code_digits: int | None = None
    product_code_required: bool = False

    def payment_code(self, payment_type: PaymentType) -> int | str:
        try:
            return self.payment_codes[payment_type]
        except KeyError:
            raise ConfigError(
                "unknown_payment_type", "/payments", f"{self.country} has no code for payment {payment_type}"
            ) from None


KZ = Jurisdiction(
    country="KZ",
    currency="KZT",
    tax_id_rule=TaxIdRule.KZ_IIN_BIN,
    cashier_id_rule=TaxIdRule.KZ_IIN_BIN,
    # OFD protobuf and Webkassa PaymentType: 0 cash, 1 card, 4 mobile (reference section 6).
    payment_codes=_frozen({PaymentType.CASH: 0, PaymentType.CARD: 1, PaymentType.MOBILE: 4}),
    # OFD and Webkassa operation types: 0 buy, 1 buy return, 2 sell, 3 sell return.
    operation_codes=_frozen(
        {Operation.BUY: 0, Operation.BUY_RETURN: 1, Operation.SELL: 2, Operation.SELL_RETURN: 3}
    ),
    # Position type (protocol 2.0.4): 0 goods, 1 work, 2 service.
    item_kind_codes=_frozen({ItemKind.GOODS: 0, ItemKind.WORK: 1, ItemKind.SERVICE: 2}),
)

UZ = Jurisdiction(
    country="UZ",
    currency="UZS",
    tax_id_rule=TaxIdRule.UZ_PINFL_OR_TIN,
    cashier_id_rule=None,
    # E-POS "sale" carries two fields, receivedCash and receivedCard; mobile payments are card money.
    payment_codes=_frozen(
        {PaymentType.CASH: "receivedCash", PaymentType.CARD: "receivedCard", PaymentType.MOBILE: "receivedCard"}
    ),
    # Every UZ fiscal line needs its IKPU/MXIK classifier code: 17 digits (reference 4.2).
    product_code_digits=17,
    product_code_required=True,
)

RU = Jurisdiction(
    country="RU",
    currency="RUB",
    tax_id_rule=TaxIdRule.RU_INN,
    cashier_id_rule=TaxIdRule.RU_INN,
    # ATOL Online payments.type: 0 cash (tag 1031), 1 cashless (tag 1081), which covers mobile too.
    payment_codes=_frozen({PaymentType.CASH: 0, PaymentType.CARD: 1, PaymentType.MOBILE: 1}),
    # FFD tag 1054: 1 sell (приход), 2 sell return, 3 buy (расход), 4 buy return.
    operation_codes=_frozen(
        {Operation.SELL: 1, Operation.SELL_RETURN: 2, Operation.BUY: 3, Operation.BUY_RETURN: 4}
    ),
)

JURISDICTIONS: Mapping[str, Jurisdiction] = MappingProxyType({"KZ": KZ, "UZ": UZ, "RU": RU})


def get_jurisdiction(country: str, overrides: Mapping[str, Jurisdiction] | None = None) -> Jurisdiction:
    key = country.strip().upper()
    if overrides and key in overrides:
        return overrides[key]
    if key in JURISDICTIONS:
        return JURISDICTIONS[key]
    raise ConfigError("unknown_country", "/country", f"no jurisdiction rules for country {country!r}")
