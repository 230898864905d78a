"""The receipt model: what a client asks the device to print, in exact integer units.

Plain frozen dataclasses with computed properties and no checks beyond types: a ``Receipt`` may hold
a mistake (a name too long, a rate the profile forbids) so that ``validation.validate`` can report *all*
mistakes at once with paths. Building one from JSON-like data is ``builder.build_receipt``.

Units: money in integer minor units, quantities in integer thousandths (see ``money``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .money import line_amount
from .tax import VatRate
from .units import DEFAULT_UNIT

__all__ = [
    "Operation",
    "PaymentType",
    "ItemKind",
    "Item",
    "Payment",
    "Client",
    "Cashier",
    "OriginalReceiptRef",
    "VatSum",
    "Receipt",
    "compute_change",
]


class Operation(StrEnum):
    """What the receipt records, from the merchant's side."""

    SELL = "sell"
    SELL_RETURN = "sell_return"
    BUY = "buy"
    BUY_RETURN = "buy_return"

    @property
    def is_return(self) -> bool:
        return self in (Operation.SELL_RETURN, Operation.BUY_RETURN)


class PaymentType(StrEnum):
    """How the money moved. Jurisdiction codes for each are data in ``jurisdiction``."""

    CASH = "cash"
    CARD = "card"
    MOBILE = "mobile"

    @property
    def is_cash(self) -> bool:
        return self is PaymentType.CASH


class ItemKind(StrEnum):
    """Goods, work or service: a mandatory flag on KZ receipts since protocol 2.0.4."""

    GOODS = "goods"
    WORK = "work"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Item:
    """One receipt line. ``price`` is the unit price in minor units; ``quantity`` is in thousandths.

    ``discount`` and ``markup`` are absolute amounts for the whole line. ``vat_sum`` is what the
    client computed, if it sent one; it is only compared, never used.
    """

    name: str
    price: int
    quantity: int
    vat_rate: VatRate
    unit: int = DEFAULT_UNIT
    discount: int = 0
    markup: int = 0
    section: int | None = None
    kind: ItemKind = ItemKind.GOODS
    product_code: str | None = None
    barcode: str | None = None
    vat_sum: int | None = None
    #: ``amount``, worked out on first use and kept: validation, the totals, the driver and the worker all
    #: ask for it (15+ times per receipt). Not part of the value (no init, repr, compare or hash); the
    #: fields it is made of are frozen, and ``dataclasses.replace`` starts a new item without it.
    _amount: int | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def gross_amount(self) -> int:
        """price x quantity, rounded half-up to the minor unit (before discount and markup)."""
        return line_amount(self.price, self.quantity)

    @property
    def amount(self) -> int:
        """The line amount that counts: gross - discount + markup."""
        amount = self._amount
        if amount is None:
            amount = line_amount(self.price, self.quantity) - self.discount + self.markup
            object.__setattr__(self, "_amount", amount)
        return amount

    @property
    def vat(self) -> int:
        """VAT included in ``amount`` at this line's rate, rounded half-up (0 for "no VAT")."""
        return self.vat_rate.vat(self.amount)


@dataclass(frozen=True, slots=True)
class Payment:
    type: PaymentType
    amount: int


@dataclass(frozen=True, slots=True)
class Client:
    """The buyer. ``tax_id`` is an IIN/BIN (KZ), a PINFL or TIN (UZ), or an INN (RU)."""

    tax_id: str | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Cashier:
    name: str
    iin: str | None = None


@dataclass(frozen=True, slots=True)
class OriginalReceiptRef:
    """The sale a return refers to."""

    fiscal_sign: str
    date_time: datetime | None = None
    registration_number: str | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class VatSum:
    """A VAT sum for one rate, as a client declared it."""

    rate: VatRate
    amount: int


def compute_change(total: int, cash: int, non_cash: int) -> int:
    """Change given back: ``cash - (total - non_cash)``, never below 0 and never above the cash paid.

    Non-cash money is applied first (it is exact), cash covers the rest, and only cash can be handed
    back. If non-cash alone exceeds the total the receipt is invalid anyway; change is then capped at
    the cash paid rather than refunding card money in cash.
    """
    change = cash - (total - non_cash)
    return max(0, min(change, cash))


@dataclass(frozen=True, slots=True)
class Receipt:
    """A receipt to register. ``date_time`` is the local receipt time: it picks the tax rates in force.

    ``declared_total`` and ``declared_vat_sums`` are the client's own figures, when it sent them; they
    are compared with the computed ones, never trusted.
    """

    operation: Operation
    items: tuple[Item, ...]
    payments: tuple[Payment, ...]
    date_time: datetime
    currency: str = "KZT"
    client: Client | None = None
    cashier: Cashier | None = None
    electronic_only: bool = False
    original: OriginalReceiptRef | None = None
    declared_total: int | None = None
    declared_vat_sums: tuple[VatSum, ...] | None = None
    #: ``line_amounts`` and ``total``, worked out on first use and kept (asked for 5+ times per request:
    #: validation, the worker's expectation, the driver, the change). Not part of the value, like
    #: ``Item._amount``; ``items`` is a tuple of frozen items, so they cannot go stale.
    _line_amounts: tuple[int, ...] | None = field(default=None, init=False, repr=False, compare=False)
    _total: int | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def line_amounts(self) -> tuple[int, ...]:
        amounts = self._line_amounts
        if amounts is None:
            amounts = tuple([item.amount for item in self.items])
            object.__setattr__(self, "_line_amounts", amounts)
        return amounts

    @property
    def total(self) -> int:
        """Receipt total: the sum of line amounts."""
        total = self._total
        if total is None:
            total = sum(self.line_amounts)
            object.__setattr__(self, "_total", total)
        return total

    @property
    def vat_by_rate(self) -> dict[VatRate, int]:
        """VAT per rate: per-line VAT (already rounded) summed per rate, in first-seen order.

        Every rate present on the receipt appears, "no VAT" with 0, so a receipt can print its groups.
        """
        sums: dict[VatRate, int] = {}
        for item in self.items:
            sums[item.vat_rate] = sums.get(item.vat_rate, 0) + item.vat
        return sums

    @property
    def taxable_by_rate(self) -> dict[VatRate, int]:
        """Tax base per rate (the sum of line amounts at that rate, VAT included)."""
        sums: dict[VatRate, int] = {}
        for item in self.items:
            sums[item.vat_rate] = sums.get(item.vat_rate, 0) + item.amount
        return sums

    @property
    def vat_total(self) -> int:
        return sum(item.vat for item in self.items)

    @property
    def paid(self) -> int:
        return sum(p.amount for p in self.payments)

    @property
    def cash_paid(self) -> int:
        return sum(p.amount for p in self.payments if p.type is PaymentType.CASH)

    @property
    def non_cash_paid(self) -> int:
        return sum(p.amount for p in self.payments if p.type is not PaymentType.CASH)

    @property
    def paid_by_type(self) -> dict[PaymentType, int]:
        sums: dict[PaymentType, int] = {}
        for payment in self.payments:
            sums[payment.type] = sums.get(payment.type, 0) + payment.amount
        return sums

    @property
    def change(self) -> int:
        """Cash handed back (see ``compute_change``)."""
        return compute_change(self.total, self.cash_paid, self.non_cash_paid)
