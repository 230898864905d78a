"""From a journalled job to a device operation, and from a device's answer to the job's stored result.

A job in the journal holds the request body (JSON) and its kind. After a restart the worker has nothing
else, so turning a job into something the device can do must work from the journal alone: a *planner*
(``Planner = Callable[[Job], Operation]``). ``default_planner`` reads the receipt model's canonical body
(see ``kkm_bridge.model.builder``) for receipt kinds and small documented bodies for the rest; the HTTP
layer passes its own planner when it stores its own (cloud API) bodies.

Bodies ``default_planner`` understands, by job kind:

* ``sell`` / ``sell_return`` / ``buy`` / ``buy_return``: the canonical receipt body (``operation`` may be
  omitted: the job's kind is used). A missing ``date_time`` is the job's acceptance time, local.
* ``cash_in`` / ``cash_out``: ``{"amount": "100.00"}`` (major units).
* ``shift_open`` / ``shift_close``: ``{"cashier": "Name"}`` (optional).
* ``x_report``, ``open_drawer``, ``cancel_receipt``: ``{}``; ``print_text``: ``{"lines": [...]}``;
  ``set_datetime``: ``{"date_time": "2026-01-05T10:30:00"}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kkm_bridge.driver.api import DocumentKind, FiscalDevice, FiscalDocument, FiscalResult
from kkm_bridge.journal import Job, JobKind, JobResult
from kkm_bridge.model import BuildOptions, Receipt, build_receipt, parse_amount
from kkm_bridge.model.builder import parse_datetime
from kkm_bridge.model.currency import CURRENCIES
from kkm_bridge.model.errors import InputError

__all__ = [
    "Operation", "Fiscalize", "CashIn", "CashOut", "OpenShift", "CloseShift", "XReport", "PrintText",
    "OpenDrawer", "CancelReceipt", "SetDateTime", "Planner", "PlanError", "default_planner", "expectation",
    "execute", "result_from_document", "OperationOutcome",
]


class PlanError(ValueError):
    """The job's request cannot be executed (bad body, unknown kind). Nothing was sent to the device."""


@dataclass(frozen=True)
class Fiscalize:
    receipt: Receipt


@dataclass(frozen=True)
class CashIn:
    amount: int
    currency: str = "KZT"


@dataclass(frozen=True)
class CashOut:
    amount: int
    currency: str = "KZT"


@dataclass(frozen=True)
class OpenShift:
    cashier: str | None = None


@dataclass(frozen=True)
class CloseShift:
    cashier: str | None = None


@dataclass(frozen=True)
class XReport:
    pass


@dataclass(frozen=True)
class PrintText:
    lines: tuple[str, ...]


@dataclass(frozen=True)
class OpenDrawer:
    pass


@dataclass(frozen=True)
class CancelReceipt:
    pass


@dataclass(frozen=True)
class SetDateTime:
    value: datetime


Operation = (
    Fiscalize | CashIn | CashOut | OpenShift | CloseShift | XReport | PrintText | OpenDrawer | CancelReceipt
    | SetDateTime
)
Planner = Callable[[Job], Operation]

_RECEIPT_KINDS = {
    JobKind.SELL.value: DocumentKind.SELL,
    JobKind.SELL_RETURN.value: DocumentKind.SELL_RETURN,
    JobKind.BUY.value: DocumentKind.BUY,
    JobKind.BUY_RETURN.value: DocumentKind.BUY_RETURN,
}


def _minor_digits(currency: str) -> int:
    found = CURRENCIES.get(currency)
    return found.minor_digits if found is not None else 2


def _local_naive(value: datetime) -> datetime:
    return value.astimezone().replace(tzinfo=None) if value.tzinfo is not None else value


def default_planner(job: Job) -> Operation:
    """Plan a job whose body is in the formats listed in the module docstring."""
    body: dict[str, Any] = dict(job.request)
    kind = job.kind
    try:
        if kind in _RECEIPT_KINDS:
            body.setdefault("operation", kind)
            if body["operation"] != kind:
                raise PlanError(f"body operation {body['operation']!r} does not match job kind {kind!r}")
            built = build_receipt(body, BuildOptions(now=_local_naive(job.created_at)))
            if built.receipt is None:
                detail = "; ".join(f"{p.path}: {p.code}" for p in built.problems[:5])
                raise PlanError(f"receipt body does not parse: {detail}")
            return Fiscalize(built.receipt)
        if kind in (JobKind.CASH_IN, JobKind.CASH_OUT):
            currency = str(body.get("currency") or "KZT")
            amount = parse_amount(body.get("amount"), "/amount", _minor_digits(currency))
            return CashIn(amount, currency) if kind == JobKind.CASH_IN else CashOut(amount, currency)
        if kind == JobKind.SHIFT_OPEN:
            return OpenShift(body.get("cashier"))
        if kind == JobKind.SHIFT_CLOSE:
            return CloseShift(body.get("cashier"))
        if kind == JobKind.X_REPORT:
            return XReport()
        if kind == JobKind.OPEN_DRAWER:
            return OpenDrawer()
        if kind == JobKind.CANCEL_RECEIPT:
            return CancelReceipt()
        if kind == JobKind.PRINT_TEXT:
            lines = body.get("lines")
            if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
                raise PlanError("print_text needs {'lines': [str, ...]}")
            return PrintText(tuple(lines))
        if kind == JobKind.SET_DATETIME:
            return SetDateTime(parse_datetime(body.get("date_time"), "/date_time"))
    except InputError as exc:
        raise PlanError(str(exc)) from exc
    except (KeyError, TypeError) as exc:
        raise PlanError(f"bad {kind} body: {exc}") from exc
    raise PlanError(f"no device operation for job kind {kind!r}")


@dataclass(frozen=True)
class Expectation:
    """The fiscal document an operation produces: recovery looks for it after a lost reply."""

    kind: DocumentKind
    total: int | None


def expectation(op: Operation) -> Expectation | None:
    """What document the operation leaves in fiscal memory (None: it makes none)."""
    if isinstance(op, Fiscalize):
        return Expectation(_RECEIPT_KINDS[op.receipt.operation.value], op.receipt.total)
    if isinstance(op, CashIn):
        return Expectation(DocumentKind.CASH_IN, op.amount)
    if isinstance(op, CashOut):
        return Expectation(DocumentKind.CASH_OUT, op.amount)
    if isinstance(op, OpenShift):
        return Expectation(DocumentKind.SHIFT_OPEN, None)
    if isinstance(op, CloseShift):
        return Expectation(DocumentKind.SHIFT_CLOSE, None)
    return None


def _currency(op: Operation | None) -> str:
    if isinstance(op, Fiscalize):
        return op.receipt.currency
    if isinstance(op, (CashIn, CashOut)):
        return op.currency
    return "KZT"


def _major(amount: int, digits: int) -> Decimal:
    return Decimal(amount).scaleb(-digits)


@dataclass(frozen=True)
class OperationOutcome:
    """What an operation returned: the document (if it makes one) and anything else worth storing."""

    document: FiscalDocument | None
    extra: dict[str, Any] = field(default_factory=dict)


async def execute(op: Operation, device: FiscalDevice) -> OperationOutcome:
    """Run one operation. Errors propagate (the worker classifies them)."""
    if isinstance(op, Fiscalize):
        result: FiscalResult = await device.fiscalize(op.receipt)
        extra: dict[str, Any] = {"change": result.change, "shift_opened": result.shift_opened}
        if result.shift_closed_first is not None:
            extra["shift_closed_first"] = result.shift_closed_first.number
        return OperationOutcome(result.document, extra)
    if isinstance(op, CashIn):
        return OperationOutcome(await device.cash_in(op.amount))
    if isinstance(op, CashOut):
        return OperationOutcome(await device.cash_out(op.amount))
    if isinstance(op, OpenShift):
        return OperationOutcome(await device.open_shift(op.cashier))
    if isinstance(op, CloseShift):
        return OperationOutcome(await device.close_shift(op.cashier))
    if isinstance(op, XReport):
        await device.x_report()
    elif isinstance(op, PrintText):
        await device.print_text(list(op.lines))
    elif isinstance(op, OpenDrawer):
        await device.open_drawer()
    elif isinstance(op, CancelReceipt):
        await device.cancel_receipt()
    elif isinstance(op, SetDateTime):
        await device.set_datetime(op.value)
    else:  # pragma: no cover - exhaustive
        raise PlanError(f"unknown operation {op!r}")
    return OperationOutcome(None)


def result_from_document(
    op: Operation | None, document: FiscalDocument | None, extra: dict[str, Any] | None = None, *, recovered: bool = False
) -> JobResult:
    """The journal result of a job: the fiscal data as the device has it (money in major units).

    ``op`` may be None when recovery finds a job's document but can no longer plan the job (then the
    currency is assumed to have 2 minor digits and the change is not known)."""
    digits = _minor_digits(_currency(op))
    data: dict[str, Any] = dict(extra or {})
    data["recovered"] = recovered
    if isinstance(op, Fiscalize) and "change" not in data:
        data["change"] = op.receipt.change
    if "change" in data and isinstance(data["change"], int):
        data["change"] = str(_major(data["change"], digits))
    if document is None:
        return JobResult(extra=data)
    data.update(
        document_kind=document.kind.value,
        total_minor=document.total,
        registration_number=document.registration_number,
        fn_number=document.fn_number,
    )
    return JobResult(
        fiscal_sign=document.fiscal_sign,
        document_number=document.number,
        shift_number=document.shift_number,
        receipt_number=document.receipt_number,
        fiscal_datetime=document.date_time,
        total=_major(document.total, digits),
        vat={rate: _major(amount, digits) for rate, amount in document.vat.items()},
        offline=document.offline,
        extra=data,
    )
