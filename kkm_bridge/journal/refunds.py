"""Refund accounting: partial refunds of one sale must not add up to more than the sale.

Each refund on its own is checked by the model (``return_exceeds_original``: a refund above its original's
total), but several partial refunds of one sale could together return more money, or more of an item, than
was sold. The journal is the one place that sees every refund, so ``Journal.accept`` checks the sum inside
the same ``BEGIN IMMEDIATE`` transaction that inserts the refund: two concurrent refunds cannot both pass.

What counts: refunds (``sell_return`` of a ``sell``, ``buy_return`` of a ``buy``) that are ``accepted``,
``in_progress`` or ``done`` and reference the same original. A ``failed`` refund printed nothing (that is what
``failed`` promises), so it frees its amount; requeueing it checks again.

Everything is derived from the refund's journalled (canonical) body, so the rule holds for every path that
journals a refund, and after a restart:

* the original is the body's ``original`` reference (fiscal sign, registration number, total). If the journal
  holds that sale (a done sale with this fiscal sign, of this cashbox or with this registration number), the
  refunds are counted per sale job, whichever way they referenced it, and the sale's own receipt is the
  limit: its total and, for refund lines that are lines of the sale (same name and price), their quantity.
  Otherwise (a sale the journal never saw) refunds are counted per (cashbox, registration number, fiscal
  sign) and the limit is the total the refund declares for its original;
* the refund's own amount is its receipt total (lines after discounts), as the model computes it.

Each refund's share is kept in ``refund_claims`` (schema version 2), one row per refund job, so the check is
one indexed query however long the journal is.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kkm_bridge.model.builder import BuildOptions, build_receipt
from kkm_bridge.model.money import QUANTITY_DIGITS
from kkm_bridge.model.receipt import Receipt

from .errors import JournalError

__all__ = [
    "REFUND_OF", "RefundClaim", "RefundExceedsOriginal", "SaleLimit", "backfill_claims", "check_refund",
    "record_claim", "refund_claim", "sale_limit",
]

#: Refund kind -> the kind of job it returns.
REFUND_OF: Mapping[str, str] = {"sell_return": "sell", "buy_return": "buy"}

# A journalled body carries no date-time (the device stamps its own); the builder needs one to parse.
_ANY_TIME = datetime(2000, 1, 1)
# Joins a line's name and price into one key (a control character no printable name contains).
_SEP = "\x1f"


class RefundExceedsOriginal(JournalError):
    """A refund would take the refunds of one original above what the original sold. Nothing was written.

    ``path`` is the refund body's canonical field at fault (``/total``, or ``/items/<i>/quantity`` for a line
    whose quantity exceeds what is left of it); ``remaining`` is what is left to refund there (major units of
    money, or a quantity), ``limit`` the original's figure, ``refunded`` what other refunds already took.
    """

    def __init__(self, path: str, remaining: Decimal, limit: Decimal, refunded: Decimal, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.remaining = remaining
        self.limit = limit
        self.refunded = refunded
        self.message = message


@dataclass(frozen=True, slots=True)
class RefundClaim:
    """What one refund takes from its original (from its body alone; the journal decides which sale it is).

    ``lines``: quantity in thousandths per line key (name + price); ``line_index``: the first body index of
    each key, to point at the field in an error. ``declared_total``: the original's total as the refund
    states it (minor units), the limit for a sale the journal does not hold.
    """

    kind: str
    fiscal_sign: str
    registration_number: str | None
    amount: int
    minor_digits: int
    declared_total: int | None
    lines: Mapping[str, int] = field(default_factory=dict)
    line_index: Mapping[str, int] = field(default_factory=dict)

    def fiscal_key(self, scope: str) -> str:
        """The key of an original the journal does not hold."""
        return f"fs{_SEP}{scope}{_SEP}{self.registration_number or ''}{_SEP}{self.fiscal_sign}"

    def lines_json(self) -> str | None:
        return json.dumps(dict(self.lines), sort_keys=True, ensure_ascii=False) if self.lines else None


@dataclass(frozen=True, slots=True)
class SaleLimit:
    """A journalled sale as a refund limit: its total (minor units) and its quantity per line key."""

    job_seq: int
    total: int
    lines: Mapping[str, int]

    @property
    def key(self) -> str:
        return f"sale{_SEP}{self.job_seq}"


def _receipt(body: Mapping[str, Any]) -> Receipt | None:
    currency = body.get("currency")
    options = BuildOptions(now=_ANY_TIME, default_currency=currency if isinstance(currency, str) else "KZT")
    try:
        return build_receipt(dict(body), options).receipt
    except Exception:  # pragma: no cover - the builder reports problems instead of raising
        return None


def _line_key(name: str, price: int) -> str:
    return f"{name}{_SEP}{price}"


def _lines(receipt: Receipt) -> tuple[dict[str, int], dict[str, int]]:
    quantities: dict[str, int] = {}
    first: dict[str, int] = {}
    for index, item in enumerate(receipt.items):
        key = _line_key(item.name, item.price)
        quantities[key] = quantities.get(key, 0) + item.quantity
        first.setdefault(key, index)
    return quantities, first


def _digits(body: Mapping[str, Any]) -> int:
    from kkm_bridge.model.currency import CURRENCIES

    currency = CURRENCIES.get(str(body.get("currency") or "KZT").upper())
    return currency.minor_digits if currency is not None else 2


def refund_claim(kind: str, body: Mapping[str, Any]) -> RefundClaim | None:
    """The claim of a refund job's body; None for other jobs, and for a refund whose body does not build
    (it cannot be printed: the worker fails it) or names no original."""
    if kind not in REFUND_OF:
        return None
    original = body.get("original")
    if not isinstance(original, Mapping) or not original.get("fiscal_sign"):
        return None
    receipt = _receipt(body)
    if receipt is None or receipt.original is None:
        return None
    lines, first = _lines(receipt)
    return RefundClaim(
        kind=kind,
        fiscal_sign=receipt.original.fiscal_sign,
        registration_number=receipt.original.registration_number or None,
        amount=receipt.total,
        minor_digits=_digits(body),
        declared_total=receipt.original.total,
        lines=lines,
        line_index=first,
    )


def sale_limit(job_seq: int, sale_body: Mapping[str, Any]) -> SaleLimit | None:
    """A journalled sale's limit, from its own body (what it printed)."""
    receipt = _receipt(sale_body)
    if receipt is None:
        return None
    lines, _ = _lines(receipt)
    return SaleLimit(job_seq, receipt.total, lines)


def check_claim(
    claim: RefundClaim, sale: SaleLimit | None, others: Iterable[tuple[int, str | None]]
) -> None:
    """Raise ``RefundExceedsOriginal`` if ``claim`` on top of ``others`` (the (amount, lines_json) of the
    refunds of the same original that count) exceeds the original."""
    used = 0
    used_lines: dict[str, int] = {}
    for amount, lines_json in others:
        used += amount
        if lines_json:
            for key, quantity in json.loads(lines_json).items():
                used_lines[key] = used_lines.get(key, 0) + int(quantity)
    digits = claim.minor_digits
    limit = sale.total if sale is not None else claim.declared_total
    if limit is not None and used + claim.amount > limit:
        left = max(0, limit - used)
        raise RefundExceedsOriginal(
            "/total", _major(left, digits), _major(limit, digits), _major(used, digits),
            f"the refunds of this sale would exceed it: {_fmt(limit, digits)} sold, {_fmt(used, digits)} already "
            f"refunded, {_fmt(left, digits)} left to refund, this refund is {_fmt(claim.amount, digits)}",
        )
    if sale is None:
        return
    for key, quantity in claim.lines.items():
        sold = sale.lines.get(key)
        if sold is None:
            continue  # not a line of the sale: only the total limits it
        taken = used_lines.get(key, 0)
        if taken + quantity > sold:
            left = max(0, sold - taken)
            name = key.split(_SEP, 1)[0]
            raise RefundExceedsOriginal(
                f"/items/{claim.line_index[key]}/quantity", _major(left, QUANTITY_DIGITS),
                _major(sold, QUANTITY_DIGITS), _major(taken, QUANTITY_DIGITS),
                f"the refunds of {name!r} would exceed the quantity sold: {_qty(sold)} sold, {_qty(taken)} already "
                f"refunded, {_qty(left)} left to refund, this refund is {_qty(quantity)}",
            )


def _major(value: int, digits: int) -> Decimal:
    return Decimal(value).scaleb(-digits)


def _fmt(value: int, digits: int) -> str:
    return f"{_major(value, digits):.{digits}f}"


def _qty(milli: int) -> str:
    text = f"{_major(milli, QUANTITY_DIGITS):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---------------------------------------------------------------------------------------------- storage
# These run inside the caller's write transaction (``BEGIN IMMEDIATE``), on its connection.


def find_original(conn: sqlite3.Connection, claim: RefundClaim, scope: str) -> tuple[str, SaleLimit | None]:
    """(the key refunds of this original are counted under, the journalled sale if there is one).

    A done sale with the refund's fiscal sign is the original when it belongs to the same cashbox (scope)
    or its registration number is the one the refund names, and no known registration number contradicts.
    """
    rows = conn.execute(
        "SELECT seq, scope, request_json, result_json FROM jobs"
        " WHERE fiscal_sign = ? AND kind = ? AND state = 'done' ORDER BY seq",
        (claim.fiscal_sign, REFUND_OF[claim.kind]),
    ).fetchall()
    wanted = claim.registration_number
    for seq, sale_scope, request_json, result_json in rows:
        result = json.loads(result_json) if result_json else {}
        registered = result.get("registration_number") if isinstance(result, dict) else None
        registered = str(registered) if registered else None
        if wanted and registered and wanted != registered:
            continue
        if sale_scope != scope and not (wanted and registered == wanted):
            continue
        sale = sale_limit(seq, json.loads(request_json))
        if sale is not None:
            return sale.key, sale
    return claim.fiscal_key(scope), None


def check_refund(conn: sqlite3.Connection, claim: RefundClaim, scope: str) -> str:
    """Raise ``RefundExceedsOriginal`` if the refund does not fit in what is left of its original; else the
    original's key (for ``record_claim``). Failed refunds do not count."""
    key, sale = find_original(conn, claim, scope)
    others = conn.execute(
        "SELECT c.amount, c.lines_json FROM refund_claims AS c JOIN jobs AS j ON j.seq = c.job_seq"
        " WHERE c.original_key = ? AND j.state != 'failed'",
        (key,),
    ).fetchall()
    check_claim(claim, sale, [(int(amount), lines) for amount, lines in others])
    return key


def record_claim(conn: sqlite3.Connection, job_seq: int, key: str, claim: RefundClaim) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO refund_claims (job_seq, original_key, amount, lines_json) VALUES (?, ?, ?, ?)",
        (job_seq, key, claim.amount, claim.lines_json()),
    )


def backfill_claims(conn: sqlite3.Connection) -> None:
    """Schema step 2: the claims of refunds journalled before the table existed (recorded as they are, not
    checked: they were accepted already)."""
    kinds = tuple(REFUND_OF)
    rows = conn.execute(
        f"SELECT seq, kind, scope, request_json FROM jobs WHERE kind IN ({', '.join('?' for _ in kinds)})"
        " ORDER BY seq",
        kinds,
    ).fetchall()
    for seq, kind, scope, request_json in rows:
        claim = refund_claim(kind, json.loads(request_json))
        if claim is not None:
            key, _ = find_original(conn, claim, scope)
            record_claim(conn, seq, key, claim)
