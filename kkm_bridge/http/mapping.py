"""The cloud API's check body -> the receipt model's canonical body, and model paths back to cloud paths.

This is the only place that knows both shapes. The canonical body (``kkm_bridge.model.builder``) is also
what goes into the journal: the device workers turn a journalled job back into a ``Receipt`` with the
builder alone (``workers.operations.default_planner``), so after a restart nothing from the HTTP request
is needed. It carries no date-time: the device stamps its own, and the hash of the body (idempotency)
must be the same when a client retries the same request a minute later.

Cloud -> canonical:

=============================== =========================================
``items[].measurement``         ``items[].unit`` (alias or numeric code)
``items[].vat_rate``            ``items[].vat_rate`` (absent stays absent)
``total_sum``                   ``total``
``payment_type`` + total_sum    ``payments: [{type, amount: total_sum}]``
``payments[].sum``              ``payments[].amount``
``client.bin_iin``              ``client.tax_id`` ("Not specified" -> none)
``cashier`` (name or object)    ``cashier: {name, iin}``
``electronic``                  ``electronic_only``
refund ``original`` / sale      ``original: {fiscal_sign, date_time, registration_number, total}``
=============================== =========================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from msgspec import UNSET

from kkm_bridge.model.builder import BuildOptions, receipt_problems
from kkm_bridge.model.errors import Problem
from kkm_bridge.model.receipt import Receipt
from kkm_bridge.model.tax import TaxProfile
from kkm_bridge.model.validation import remap_problems

from .schemas import CashierIn, ClientIn, ItemIn, RefundRequest, SellRequest

__all__ = ["DeviceCheck", "MappedReceipt", "PAYMENT_ALIASES", "cashier_name", "map_check", "NOT_SPECIFIED"]

#: What the cashbox's device cannot do with a receipt (``FiscalDevice`` ``receipt_problems``), canonical paths.
DeviceCheck = Callable[[Receipt], list[Problem]]

#: Cloud spellings of payment types -> the model's (cash, card, mobile). Unknown ones reach the model,
#: which rejects them with ``bad_payment_type`` and the allowed list.
PAYMENT_ALIASES: Mapping[str, str] = {
    "cash": "cash", "card": "card", "bank_card": "card", "cashless": "card", "non_cash": "card",
    "electronic": "card", "mobile": "mobile", "qr": "mobile", "kaspi": "mobile", "kaspi_qr": "mobile",
}
#: What a B2C check sends instead of a buyer id.
NOT_SPECIFIED = frozenset({"not specified", "not_specified", "none", "-", ""})


@dataclass(frozen=True)
class MappedReceipt:
    """The canonical body (for the journal) and its problems in the client's paths (none: it can print).

    ``receipt``: the receipt built from ``body`` while validating it (None if it could not be built), handed
    to the device worker in-process so it does not build the same receipt a second time.
    """

    body: dict[str, Any]
    problems: list[Problem]
    receipt: Receipt | None = None


def amount_text(value: Decimal) -> Decimal | str:
    """Amounts go to the journal as plain strings: exact, and the same text for 100 and 100.0.

    A value no receipt can hold (NaN, 1e999999, 1e-999999) is passed on as it is, so the model rejects it
    with its own code and path; formatting it as plain text could take gigabytes.
    """
    if not value.is_finite() or abs(value.adjusted()) > 40:
        return value
    return format(value.normalize(), "f")


def _item(item: ItemIn) -> dict[str, Any]:
    out: dict[str, Any] = {"name": item.name, "price": amount_text(item.price), "quantity": amount_text(item.quantity)}
    if item.vat_rate is not UNSET:
        out["vat_rate"] = item.vat_rate if not isinstance(item.vat_rate, Decimal) else amount_text(item.vat_rate)
    if item.vat_sum is not None:
        out["vat_sum"] = amount_text(item.vat_sum)
    if item.measurement is not None:
        out["unit"] = item.measurement
    if item.discount is not None:
        out["discount"] = amount_text(item.discount)
    for name in ("section", "kind", "product_code", "barcode"):
        value = getattr(item, name)
        if value is not None:
            out[name] = value
    return out


def _client(client: ClientIn) -> dict[str, Any] | None:
    tax_id = client.bin_iin
    if tax_id is not None and tax_id.strip().lower() in NOT_SPECIFIED:
        tax_id = None
    out = {"tax_id": tax_id, "phone": client.phone, "email": client.email, "name": client.name}
    out = {k: v for k, v in out.items() if v is not None}
    return out or None


def cashier_name(cashier: str | CashierIn | None) -> str | None:
    if cashier is None:
        return None
    return cashier if isinstance(cashier, str) else cashier.name


def _cashier(cashier: str | CashierIn | None) -> dict[str, Any] | None:
    if cashier is None:
        return None
    if isinstance(cashier, str):
        return {"name": cashier}
    out: dict[str, Any] = {"name": cashier.name}
    if cashier.iin is not None:
        out["iin"] = cashier.iin
    return out


def _payments(request: SellRequest | RefundRequest, problems: list[Problem]) -> list[dict[str, Any]] | None:
    def kind(value: str) -> str:
        return PAYMENT_ALIASES.get(value.strip().lower(), value)

    if request.payments is not None:
        if request.payment_type is not None:
            problems.append(Problem("conflicting_fields", "/payment_type", "send payment_type or payments, not both"))
        return [{"type": kind(p.type), "amount": amount_text(p.sum)} for p in request.payments]
    if request.payment_type is not None:
        if request.total_sum is None:
            problems.append(Problem("missing_field", "/total_sum", "total_sum is required with payment_type"))
            return None
        return [{"type": kind(request.payment_type), "amount": amount_text(request.total_sum)}]
    return None


def _path_mapper(single_payment: bool) -> Callable[[str], str]:
    """Canonical path -> the path of the field the client actually sent."""

    def mapped(path: str) -> str:
        if single_payment and path.startswith("/payments"):
            return "/total_sum" if path.endswith("/amount") else "/payment_type"
        for pattern, replacement in _PATHS:
            path = pattern.sub(replacement, path)
        return path

    return mapped


_PATHS = (
    (re.compile(r"^/items/(\d+)/unit"), r"/items/\1/measurement"),
    (re.compile(r"^/payments/(\d+)/amount"), r"/payments/\1/sum"),
    (re.compile(r"^/total$"), "/total_sum"),
    (re.compile(r"^/client/tax_id"), "/client/bin_iin"),
    (re.compile(r"^/electronic_only"), "/electronic"),
)


#: ``BuildOptions`` per cashbox currency (a configured value), made once rather than per request.
_BUILD_OPTIONS: dict[str, BuildOptions] = {}


def _build_options(currency: str) -> BuildOptions:
    options = _BUILD_OPTIONS.get(currency)
    if options is None:
        options = _BUILD_OPTIONS[currency] = BuildOptions(default_currency=currency)
    return options


def map_check(
    request: SellRequest | RefundRequest,
    *,
    operation: str,
    profile: TaxProfile,
    now: datetime,
    currency: str,
    original: Mapping[str, Any] | None = None,
    items_fallback: list[dict[str, Any]] | None = None,
    payments_fallback: list[dict[str, Any]] | None = None,
    original_path: str = "/original",
    device_check: DeviceCheck | None = None,
) -> MappedReceipt:
    """Map and validate a sell or refund body. ``now`` (device-local, naive) picks the VAT rates in force.

    ``original`` is the resolved sale a refund returns; ``items_fallback`` / ``payments_fallback`` its
    lines and payments, used when a refund by ``fiscal_check_id`` sends none (a full return);
    ``original_path`` is where problems with the reference are reported (``/fiscal_check_id``).
    ``device_check`` adds what the device itself could not print (Kazakh letters its code page lacks, a
    name longer than its field): such a request is refused now, before it is journalled, instead of
    failing at the device. A field the model already objects to is not reported twice.
    """
    problems: list[Problem] = []
    body: dict[str, Any] = {"operation": operation, "currency": currency}
    if request.items is not None:
        body["items"] = [_item(item) for item in request.items]
    elif items_fallback is not None:
        body["items"] = items_fallback
    else:
        problems.append(Problem("missing_field", "/items", "items are required"))
    payments = _payments(request, problems)
    if payments is None and request.total_sum is None:
        payments = payments_fallback
    if payments is not None:
        body["payments"] = payments
    if request.total_sum is not None:
        body["total"] = amount_text(request.total_sum)
    if request.client is not None and (client := _client(request.client)) is not None:
        body["client"] = client
    if (cashier := _cashier(request.cashier)) is not None:
        body["cashier"] = cashier
    if request.electronic:
        body["electronic_only"] = True
    if original is not None:
        body["original"] = dict(original)

    dated = {**body, "date_time": now.isoformat(timespec="seconds")}
    receipt, found = receipt_problems(dated, profile, build=_build_options(currency))
    if receipt is not None and device_check is not None:
        seen = {p.path for p in found}
        found += [p for p in device_check(receipt) if p.path not in seen]
    single_payment = request.payments is None and request.payment_type is not None
    mapper = _path_mapper(single_payment)

    def to_cloud(path: str) -> str:
        if path.startswith("/original") and original_path != "/original":
            return original_path
        return mapper(path)

    problems += remap_problems(found, to_cloud)
    return MappedReceipt(body, problems, receipt)
