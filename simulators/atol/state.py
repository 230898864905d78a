"""The device's durable state (shift, numbering, counters, cash) and its volatile state (mode, receipt).

The split is the point of this module. Durable state is written to the state file together with every
fiscal document, in the same atomic write, so after a restart or a simulated power cut the counters and
the fiscal memory always agree. Volatile state (current mode, the receipt being built, the last error)
lives only in memory and is lost on a power cut, as on a real printer: an unclosed receipt was never a
fiscal document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any


class ReceiptPhase(IntEnum):
    """Where an open receipt is in its life: items may only be added before the first payment."""

    ITEMS = 1
    PAYMENTS = 2


@dataclass
class TypeCounters:
    """Per-shift totals for one receipt type (sell, sell return, buy, buy return)."""

    count: int = 0
    total: int = 0
    change: int = 0
    payments: dict[str, int] = field(default_factory=dict)  # pay type (as str) -> amount
    vat: dict[str, int] = field(default_factory=dict)  # tax index (as str) -> VAT amount

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "total": self.total, "change": self.change,
                "payments": dict(self.payments), "vat": dict(self.vat)}

    def copy(self) -> "TypeCounters":
        return TypeCounters(self.count, self.total, self.change, dict(self.payments), dict(self.vat))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TypeCounters":
        return cls(
            count=int(data.get("count", 0)),
            total=int(data.get("total", 0)),
            change=int(data.get("change", 0)),
            payments={str(k): int(v) for k, v in data.get("payments", {}).items()},
            vat={str(k): int(v) for k, v in data.get("vat", {}).items()},
        )


@dataclass
class ShiftCounters:
    """Counters of the current shift by operation and payment type; reset by the Z report."""

    by_type: dict[str, TypeCounters] = field(default_factory=dict)  # receipt type (as str) -> counters
    cash_in_count: int = 0
    cash_in_total: int = 0
    cash_out_count: int = 0
    cash_out_total: int = 0
    cancelled_count: int = 0

    def for_type(self, receipt_type: int) -> TypeCounters:
        return self.by_type.setdefault(str(receipt_type), TypeCounters())

    def to_dict(self) -> dict[str, Any]:
        """The same dict as `dataclasses.asdict` (field order, fresh containers), written out: it runs
        on every commit."""
        return {
            "by_type": {key: value.to_dict() for key, value in self.by_type.items()},
            "cash_in_count": self.cash_in_count,
            "cash_in_total": self.cash_in_total,
            "cash_out_count": self.cash_out_count,
            "cash_out_total": self.cash_out_total,
            "cancelled_count": self.cancelled_count,
        }

    def copy(self) -> "ShiftCounters":
        """A deep copy (what `copy.deepcopy` gives, without its generic machinery)."""
        return ShiftCounters({key: value.copy() for key, value in self.by_type.items()}, self.cash_in_count,
                             self.cash_in_total, self.cash_out_count, self.cash_out_total, self.cancelled_count)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ShiftCounters":
        return cls(
            by_type={str(k): TypeCounters.from_dict(v) for k, v in data.get("by_type", {}).items()},
            cash_in_count=int(data.get("cash_in_count", 0)),
            cash_in_total=int(data.get("cash_in_total", 0)),
            cash_out_count=int(data.get("cash_out_count", 0)),
            cash_out_total=int(data.get("cash_out_total", 0)),
            cancelled_count=int(data.get("cancelled_count", 0)),
        )


@dataclass
class DurableState:
    """Everything that must survive a restart, apart from the documents themselves."""

    sign_key: str  # hex; the HMAC key of the fiscal sign
    last_document_number: int = 0
    shift_number: int = 0  # number of the current (or last) shift
    shift_open: bool = False
    shift_opened_at: str | None = None  # ISO local date-time
    receipt_number: int = 0  # last receipt number within the current shift
    cash_in_drawer: int = 0
    counters: ShiftCounters = field(default_factory=ShiftCounters)
    #: Income/expense totals of the last closed shift (58 "last shift totals").
    last_shift_income: int = 0
    last_shift_expense: int = 0
    #: Offset of the device clock from the host clock, in seconds (set by 64/ED with a system clock).
    clock_offset_seconds: float = 0.0

    def opened_at(self) -> datetime | None:
        return datetime.fromisoformat(self.shift_opened_at) if self.shift_opened_at else None

    def to_dict(self) -> dict[str, Any]:
        """The same dict as `dataclasses.asdict`, written out: it runs on every commit."""
        return {
            "sign_key": self.sign_key,
            "last_document_number": self.last_document_number,
            "shift_number": self.shift_number,
            "shift_open": self.shift_open,
            "shift_opened_at": self.shift_opened_at,
            "receipt_number": self.receipt_number,
            "cash_in_drawer": self.cash_in_drawer,
            "counters": self.counters.to_dict(),
            "last_shift_income": self.last_shift_income,
            "last_shift_expense": self.last_shift_expense,
            "clock_offset_seconds": self.clock_offset_seconds,
        }

    def copy(self) -> "DurableState":
        """A deep copy (the working copy a command changes and commits), without `copy.deepcopy`."""
        return DurableState(self.sign_key, self.last_document_number, self.shift_number, self.shift_open,
                            self.shift_opened_at, self.receipt_number, self.cash_in_drawer, self.counters.copy(),
                            self.last_shift_income, self.last_shift_expense, self.clock_offset_seconds)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DurableState":
        return cls(
            sign_key=str(data["sign_key"]),
            last_document_number=int(data.get("last_document_number", 0)),
            shift_number=int(data.get("shift_number", 0)),
            shift_open=bool(data.get("shift_open", False)),
            shift_opened_at=data.get("shift_opened_at"),
            receipt_number=int(data.get("receipt_number", 0)),
            cash_in_drawer=int(data.get("cash_in_drawer", 0)),
            counters=ShiftCounters.from_dict(data.get("counters", {})),
            last_shift_income=int(data.get("last_shift_income", 0)),
            last_shift_expense=int(data.get("last_shift_expense", 0)),
            clock_offset_seconds=float(data.get("clock_offset_seconds", 0.0)),
        )


@dataclass
class ReceiptLine:
    """One registered item of the open receipt (amounts in minor units, quantity in thousandths)."""

    name: str
    price: int
    quantity: int
    amount: int  # line amount after discount/surcharge
    discount: int  # signed: positive = discount, negative = surcharge
    tax: int  # tax index in the device tax table
    section: int
    vat_rate: str | None  # printable rate, e.g. "16" or None for "no VAT"
    vat: int  # VAT included in `amount`

    def copy(self) -> "ReceiptLine":
        """A shallow copy (every field is a str/int/None); `copy.copy` goes through `__reduce_ex__`."""
        return ReceiptLine(**vars(self))


@dataclass
class OpenReceipt:
    """The receipt being built. Volatile: a power cut or a cancel throws it away."""

    receipt_type: int
    printed: bool = True
    phase: ReceiptPhase = ReceiptPhase.ITEMS
    lines: list[ReceiptLine] = field(default_factory=list)
    discount: int = 0  # receipt-level discount (positive) applied to the total
    payments: dict[int, int] = field(default_factory=dict)  # pay type -> amount
    text_lines: list[str] = field(default_factory=list)  # 4C lines printed inside the receipt

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal - self.discount

    @property
    def paid(self) -> int:
        return sum(self.payments.values())


@dataclass
class VolatileState:
    """What a power cut resets: mode, operator, the open receipt, the last error."""

    mode: int = 0
    submode: int = 0
    operator: int = 0  # cashier/operator number that entered the mode
    receipt: OpenReceipt | None = None
    last_error: int = 0
    drawer_open: bool = False
    #: Date the operator asked to set with 64 and that still needs confirming (a forward jump).
    pending_date: Any = None
