"""Receipt validation: every problem at once, each with a stable code, a path and a message.

Why all at once: a cashier's integration fixing one error per round trip against a printer is slow and
annoying; a list of everything wrong (with ``/items/3/price``-style paths) is fixed in one go.

Paths are in the canonical shape that ``builder.build_receipt`` reads (``/items/0/vat_rate``,
``/payments/1/amount``, ``/client/tax_id``...). An HTTP dialect with other field names translates them
with ``remap_problems``.

Stable codes (never renamed; the HTTP layer and clients switch on them):

=========================== =================================================================
code                        meaning
=========================== =================================================================
no_items                    the receipt has no lines
too_many_items              more lines than ``ValidationOptions.max_items``
name_empty / name_too_long  item name blank / longer than ``max_name_length``
name_bad_characters         item name with control characters (newline, NUL...)
negative_value              a price, discount, markup or payment below zero
value_too_large             an amount or quantity above its ceiling
quantity_not_positive       quantity is zero (or negative)
discount_exceeds_amount     discount larger than price x quantity + markup
unknown_unit                measure-unit code not in the table
vat_rate_not_allowed        rate not in the tax profile on the receipt's date
vat_sum_mismatch            a client-supplied VAT sum differs (message names the expected value)
total_mismatch              the client-supplied total differs from the computed total
total_too_large             the receipt total is above ``max_total``
payments_less_than_total    payments do not cover the total
non_cash_exceeds_total      card/mobile money alone is more than the total (no card "change")
payment_not_positive        a payment of zero
bad_section                 negative section number
product_code_required       the jurisdiction requires a product classifier code (UZ IKPU)
bad_product_code            product code of the wrong shape
bad_barcode                 empty or non-printable barcode
bad_iin_format / bad_iin_checksum, bad_pinfl_format / bad_pinfl_checksum, bad_tin_format,
bad_inn_format              buyer or cashier identifiers
bad_phone / bad_email       buyer contacts
electronic_requires_contact electronic-only receipt without a phone or e-mail to send it to
cashier_name_empty          cashier given without a name
return_requires_original    a return without the original receipt reference
original_not_allowed        an original-receipt reference on a sale/purchase
original_fiscal_sign_empty  the reference has no fiscal sign
return_exceeds_original     the return total is above the original receipt total
original_after_return       the original receipt is dated after the return
unknown_currency / currency_mismatch
duplicate_vat_rate          the client listed one rate twice in its VAT sums
=========================== =================================================================
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Mapping

from .currency import CURRENCIES, Currency
from .errors import InputError, Problem, ValidationError, join_path
from .jurisdiction import JURISDICTIONS, Jurisdiction
from .money import DEFAULT_MAX_AMOUNT, DEFAULT_MAX_QUANTITY, format_amount
from .receipt import Cashier, Client, Item, OriginalReceiptRef, Payment, Receipt
from .tax import TaxProfile, VatRate
from .units import DEFAULT_UNITS, UnitTable

__all__ = [
    "Problem",
    "ValidationError",
    "ValidationOptions",
    "validate",
    "check_receipt",
    "check_item",
    "check_payment",
    "check_client",
    "check_cashier",
    "remap_problems",
    "DEFAULT_MAX_NAME_LENGTH",
]

DEFAULT_MAX_NAME_LENGTH = 128

_PHONE_RE = re.compile(r"\+?\d{10,15}")
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
# Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is the mailer's problem.
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


@dataclass(frozen=True)
class ValidationOptions:
    """Limits and switches for validation. Defaults suit a KZ retail shop."""

    max_name_length: int = DEFAULT_MAX_NAME_LENGTH
    max_amount: int = DEFAULT_MAX_AMOUNT
    max_quantity: int = DEFAULT_MAX_QUANTITY
    max_total: int = DEFAULT_MAX_AMOUNT
    max_items: int = 1000
    units: UnitTable = DEFAULT_UNITS
    require_original_for_returns: bool = True
    #: Country rules; ``None`` means "the built-in rules of the profile's country".
    jurisdiction: Jurisdiction | None = None
    currencies: Mapping[str, Currency] = field(default_factory=lambda: CURRENCIES)

    def jurisdiction_for(self, profile: TaxProfile) -> Jurisdiction | None:
        if self.jurisdiction is not None:
            return self.jurisdiction
        return JURISDICTIONS.get(profile.country)


def _fmt(amount: int, digits: int) -> str:
    return format_amount(amount, digits)


def _amount_problems(value: int, path: str, what: str, maximum: int, digits: int) -> list[Problem]:
    if value < 0:
        return [Problem("negative_value", path, f"{what} must not be negative, got {_fmt(value, digits)}")]
    if value > maximum:
        return [
            Problem(
                "value_too_large",
                path,
                f"{what} {_fmt(value, digits)} is above the allowed maximum {_fmt(maximum, digits)}",
            )
        ]
    return []


def _field_amount_problems(
    value: int, path: str, key: str, what: str, maximum: int, digits: int
) -> list[Problem]:
    """``_amount_problems`` of the field ``key`` under ``path``; the path is only built for a problem."""
    if 0 <= value <= maximum:
        return []
    return _amount_problems(value, join_path(path, key), what, maximum, digits)


def _has_control_characters(text: str) -> bool:
    """Any character of a Unicode "C" category (control, format, surrogate, private use, unassigned)?

    ``str.isprintable`` is False for every such character (and for separators other than the space), so a
    printable text needs no per-character look-up; tests/model check this over every code point.
    """
    return not text.isprintable() and any(unicodedata.category(ch).startswith("C") for ch in text)


def _is_printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def check_item(
    item: Item,
    path: str,
    profile: TaxProfile,
    when: datetime | None,
    options: ValidationOptions = ValidationOptions(),
    *,
    minor_digits: int = 2,
) -> list[Problem]:
    """Problems of one line, on its own (no receipt-level sums). ``when=None`` skips the rate check."""
    problems: list[Problem] = []
    name = item.name.strip() if isinstance(item.name, str) else ""
    if not name:
        problems.append(Problem("name_empty", join_path(path, "name"), "item name must not be empty"))
    elif _has_control_characters(item.name):
        # Control/format characters (newline, NUL, bidi marks) break the printed line layout.
        problems.append(
            Problem("name_bad_characters", join_path(path, "name"), "item name must not contain control characters")
        )
    elif len(item.name) > options.max_name_length:
        problems.append(
            Problem(
                "name_too_long",
                join_path(path, "name"),
                f"item name is {len(item.name)} characters long; the maximum is {options.max_name_length}",
            )
        )
    problems += _field_amount_problems(item.price, path, "price", "price", options.max_amount, minor_digits)
    if item.quantity <= 0:
        problems.append(
            Problem("quantity_not_positive", join_path(path, "quantity"), "quantity must be greater than zero")
        )
    elif item.quantity > options.max_quantity:
        problems.append(
            Problem(
                "value_too_large",
                join_path(path, "quantity"),
                f"quantity {format_amount(item.quantity, 3)} is above the allowed maximum "
                f"{format_amount(options.max_quantity, 3)}",
            )
        )
    discount_bad = _field_amount_problems(item.discount, path, "discount", "discount", options.max_amount, minor_digits)
    markup_bad = _field_amount_problems(item.markup, path, "markup", "markup", options.max_amount, minor_digits)
    problems += discount_bad + markup_bad
    if not discount_bad and not markup_bad and item.price >= 0 and item.quantity > 0:
        gross = item.gross_amount
        if item.discount > gross + item.markup:
            problems.append(
                Problem(
                    "discount_exceeds_amount",
                    join_path(path, "discount"),
                    f"discount {_fmt(item.discount, minor_digits)} exceeds the line amount "
                    f"{_fmt(gross + item.markup, minor_digits)}",
                )
            )
    if not options.units.is_allowed(item.unit):
        problems.append(Problem("unknown_unit", join_path(path, "unit"), f"Unknown measure unit {item.unit}"))
    if when is not None:
        rate_problem = profile.check_rate(item.vat_rate, when, f"{path}/vat_rate")
        if rate_problem is not None:
            problems.append(rate_problem)
    if item.section is not None and item.section < 0:
        problems.append(Problem("bad_section", join_path(path, "section"), "section must not be negative"))
    jurisdiction = options.jurisdiction_for(profile)
    if item.product_code is None or item.product_code == "":
        if jurisdiction is not None and jurisdiction.product_code_required:
            problems.append(
                Problem(
                    "product_code_required",
                    join_path(path, "product_code"),
                    f"a product classifier code is required in {jurisdiction.country}",
                )
            )
    elif jurisdiction is not None and jurisdiction.product_code_digits is not None:
        n = jurisdiction.product_code_digits
        code = item.product_code
        if not (len(code) == n and code.isascii() and code.isdigit()):
            problems.append(
                Problem("bad_product_code", join_path(path, "product_code"), f"product code must be {n} digits")
            )
    elif not _is_printable_ascii(item.product_code) or len(item.product_code) > 64:
        problems.append(
            Problem(
                "bad_product_code",
                join_path(path, "product_code"),
                "product code must be printable ASCII, at most 64 characters",
            )
        )
    if item.barcode is not None and (
        not item.barcode or not _is_printable_ascii(item.barcode) or len(item.barcode) > 128
    ):
        problems.append(
            Problem(
                "bad_barcode",
                join_path(path, "barcode"),
                "barcode must be 1-128 printable ASCII characters",
            )
        )
    if item.vat_sum is not None and not problems:
        expected = item.vat
        if item.vat_sum != expected:
            problems.append(
                Problem(
                    "vat_sum_mismatch",
                    join_path(path, "vat_sum"),
                    f"VAT sum {_fmt(item.vat_sum, minor_digits)} does not match the expected "
                    f"{_fmt(expected, minor_digits)} ({item.vat_rate.code} of {_fmt(item.amount, minor_digits)})",
                )
            )
    return problems


def check_payment(
    payment: Payment, path: str, options: ValidationOptions = ValidationOptions(), *, minor_digits: int = 2
) -> list[Problem]:
    if payment.amount == 0:
        return [Problem("payment_not_positive", join_path(path, "amount"), "a payment must be greater than zero")]
    return _field_amount_problems(payment.amount, path, "amount", "payment", options.max_amount, minor_digits)


def _identifier_problem(
    value: str, path: str, validator: Callable[[object, str], str]
) -> Problem | None:
    try:
        validator(value, path)
    except InputError as exc:
        return exc.problem
    return None


def check_client(client: Client, path: str, jurisdiction: Jurisdiction | None) -> list[Problem]:
    problems: list[Problem] = []
    if client.tax_id is not None and jurisdiction is not None:
        found = _identifier_problem(client.tax_id, join_path(path, "tax_id"), jurisdiction.tax_id_rule.validator)
        if found:
            problems.append(found)
    if client.phone is not None:
        compact = _PHONE_SEPARATORS.sub("", client.phone)
        if not _PHONE_RE.fullmatch(compact):
            problems.append(
                Problem("bad_phone", join_path(path, "phone"), "phone must have 10-15 digits, e.g. +77011234567")
            )
    if client.email is not None and (not _EMAIL_RE.fullmatch(client.email) or len(client.email) > 254):
        problems.append(Problem("bad_email", join_path(path, "email"), "e-mail address is not valid"))
    return problems


def check_cashier(cashier: Cashier, path: str, jurisdiction: Jurisdiction | None) -> list[Problem]:
    problems: list[Problem] = []
    if not cashier.name.strip():
        problems.append(Problem("cashier_name_empty", join_path(path, "name"), "cashier name must not be empty"))
    if cashier.iin is not None and jurisdiction is not None and jurisdiction.cashier_id_rule is not None:
        found = _identifier_problem(cashier.iin, join_path(path, "iin"), jurisdiction.cashier_id_rule.validator)
        if found:
            problems.append(found)
    return problems


def _comparable(a: datetime, b: datetime) -> bool:
    return (a.tzinfo is None) == (b.tzinfo is None)


def _check_original(
    receipt: Receipt, options: ValidationOptions, digits: int, total: int | None
) -> list[Problem]:
    """Return-reference checks; ``total=None`` (lines unsound) skips the comparison with the original."""
    original: OriginalReceiptRef | None = receipt.original
    path = "/original"
    if original is None:
        if receipt.operation.is_return and options.require_original_for_returns:
            return [
                Problem(
                    "return_requires_original",
                    path,
                    "a return must reference the original receipt (fiscal sign and date-time)",
                )
            ]
        return []
    if not receipt.operation.is_return:
        return [Problem("original_not_allowed", path, "only a return may reference an original receipt")]
    problems: list[Problem] = []
    if not original.fiscal_sign.strip():
        problems.append(
            Problem("original_fiscal_sign_empty", join_path(path, "fiscal_sign"), "fiscal sign must not be empty")
        )
    if original.total is not None:
        tpath = join_path(path, "total")
        bad = _amount_problems(original.total, tpath, "original total", options.max_total, digits)
        problems += bad
        if not bad and total is not None and total > original.total:
            problems.append(
                Problem(
                    "return_exceeds_original",
                    tpath,
                    f"return total {_fmt(total, digits)} exceeds the original receipt total "
                    f"{_fmt(original.total, digits)}",
                )
            )
    if (
        original.date_time is not None
        and _comparable(original.date_time, receipt.date_time)
        and original.date_time > receipt.date_time
    ):
        problems.append(
            Problem(
                "original_after_return",
                join_path(path, "date_time"),
                "the original receipt is dated after this return",
            )
        )
    return problems


def _check_declared_vat(receipt: Receipt, digits: int) -> list[Problem]:
    declared = receipt.declared_vat_sums
    if declared is None:
        return []
    problems: list[Problem] = []
    computed = receipt.vat_by_rate
    seen: set[VatRate] = set()
    for index, entry in enumerate(declared):
        epath = join_path("/vat_sums", index)
        if entry.rate in seen:
            problems.append(
                Problem("duplicate_vat_rate", join_path(epath, "rate"), f"VAT rate {entry.rate.code} listed twice")
            )
            continue
        seen.add(entry.rate)
        expected = computed.get(entry.rate, 0)
        if entry.amount != expected:
            problems.append(
                Problem(
                    "vat_sum_mismatch",
                    join_path(epath, "sum"),
                    f"VAT sum at rate {entry.rate.code} is {_fmt(entry.amount, digits)}; expected "
                    f"{_fmt(expected, digits)}",
                )
            )
    for rate, expected in computed.items():
        if rate not in seen and expected != 0:
            problems.append(
                Problem(
                    "vat_sum_mismatch",
                    "/vat_sums",
                    f"VAT sum at rate {rate.code} is missing; expected {_fmt(expected, digits)}",
                )
            )
    return problems


def validate(
    receipt: Receipt, profile: TaxProfile, options: ValidationOptions | None = None
) -> list[Problem]:
    """Every problem of ``receipt`` under ``profile`` (rates in force on ``receipt.date_time``).

    An empty list means the receipt can be registered. Sums (totals, payments, VAT) are only
    compared when all lines are individually sound, so one bad price does not also produce a
    cascade of misleading "total" problems.
    """
    options = options or ValidationOptions()
    jurisdiction = options.jurisdiction_for(profile)
    problems: list[Problem] = []

    currency = options.currencies.get(receipt.currency)
    if currency is None:
        known = ", ".join(sorted(options.currencies))
        problems.append(
            Problem("unknown_currency", "/currency", f"Unknown currency {receipt.currency!r}; known: {known}")
        )
        digits = 2
    else:
        digits = currency.minor_digits
        if jurisdiction is not None and receipt.currency != jurisdiction.currency:
            problems.append(
                Problem(
                    "currency_mismatch",
                    "/currency",
                    f"currency {receipt.currency} is not used in {jurisdiction.country}; "
                    f"expected {jurisdiction.currency}",
                )
            )

    if not receipt.items:
        problems.append(Problem("no_items", "/items", "a receipt needs at least one item"))
    elif len(receipt.items) > options.max_items:
        problems.append(
            Problem("too_many_items", "/items", f"{len(receipt.items)} items; the maximum is {options.max_items}")
        )

    item_problems: list[Problem] = []
    for index, item in enumerate(receipt.items):
        item_problems += check_item(
            item, f"/items/{index}", profile, receipt.date_time, options, minor_digits=digits
        )
    problems += item_problems

    payment_problems: list[Problem] = []
    for index, payment in enumerate(receipt.payments):
        payment_problems += check_payment(payment, f"/payments/{index}", options, minor_digits=digits)
    problems += payment_problems

    if receipt.client is not None:
        problems += check_client(receipt.client, "/client", jurisdiction)
    if receipt.electronic_only and (
        receipt.client is None or not (receipt.client.phone or receipt.client.email)
    ):
        problems.append(
            Problem(
                "electronic_requires_contact",
                "/client",
                "an electronic-only receipt needs the buyer's phone or e-mail to be sent to",
            )
        )
    if receipt.cashier is not None:
        problems += check_cashier(receipt.cashier, "/cashier", jurisdiction)

    # A wrong client-supplied line VAT does not change the computed sums, so it does not block them.
    lines_sound = bool(receipt.items) and all(p.code == "vat_sum_mismatch" for p in item_problems)
    if lines_sound:
        total = receipt.total
        if total > options.max_total:
            problems.append(
                Problem(
                    "total_too_large",
                    "/items",
                    f"receipt total {_fmt(total, digits)} is above the maximum {_fmt(options.max_total, digits)}",
                )
            )
        if receipt.declared_total is not None and receipt.declared_total != total:
            problems.append(
                Problem(
                    "total_mismatch",
                    "/total",
                    f"total {_fmt(receipt.declared_total, digits)} does not match the computed total "
                    f"{_fmt(total, digits)}",
                )
            )
        problems += _check_declared_vat(receipt, digits)
        if not payment_problems:
            if receipt.paid < total:
                problems.append(
                    Problem(
                        "payments_less_than_total",
                        "/payments",
                        f"payments {_fmt(receipt.paid, digits)} are less than the total {_fmt(total, digits)}",
                    )
                )
            if receipt.non_cash_paid > total:
                problems.append(
                    Problem(
                        "non_cash_exceeds_total",
                        "/payments",
                        f"non-cash payments {_fmt(receipt.non_cash_paid, digits)} exceed the total "
                        f"{_fmt(total, digits)}; only cash can be overpaid",
                    )
                )
    problems += _check_original(receipt, options, digits, receipt.total if lines_sound else None)

    return problems


def check_receipt(receipt: Receipt, profile: TaxProfile, options: ValidationOptions | None = None) -> Receipt:
    """``validate`` that raises ``ValidationError`` (with every problem) instead of returning a list."""
    problems = validate(receipt, profile, options)
    if problems:
        raise ValidationError(problems)
    return receipt


def remap_problems(problems: Iterable[Problem], mapping: Callable[[str], str]) -> list[Problem]:
    """Rewrite problem paths into another body shape (an HTTP dialect's field names).

    ``mapping`` receives a canonical path such as ``/items/0/price`` and returns the dialect's, e.g.
    ``/Positions/0/Price``. Codes and messages are kept.
    """
    return [Problem(p.code, mapping(p.path), p.message) for p in problems]
