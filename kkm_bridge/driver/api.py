"""What the rest of the daemon may ask of a fiscal device.

The device workers (exactly-once recovery) and the HTTP API program against `FiscalDevice`, not against
the ATOL driver, so that recovery logic is written once and a future non-ATOL driver slots in. Every
result here is plain data in the receipt model's units: money in integer minor units, quantities in
thousandths, date-times naive in the device's local time (the device has no time zone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from kkm_bridge.model.errors import Problem
from kkm_bridge.model.receipt import Receipt


class ShiftState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    EXPIRED = "expired"  # open for more than 24 h: no receipts until a Z report


class DocumentKind(StrEnum):
    """Kinds of fiscal documents a device stores (what recovery matches a job against)."""

    SELL = "sell"
    SELL_RETURN = "sell_return"
    BUY = "buy"
    BUY_RETURN = "buy_return"
    SHIFT_OPEN = "shift_open"
    SHIFT_CLOSE = "shift_close"
    CASH_IN = "cash_in"
    CASH_OUT = "cash_out"
    OTHER = "other"


@dataclass(frozen=True)
class DeviceInfo:
    model: str
    serial_number: str
    firmware: str
    protocol: str
    registration_number: str | None = None
    fn_number: str | None = None
    line_width: int | None = None


@dataclass(frozen=True)
class DeviceStatus:
    """What the device says about itself right now; recovery decisions are made from this."""

    shift_state: ShiftState
    shift_number: int
    receipt_open: bool
    receipt_kind: DocumentKind | None
    receipt_total: int
    last_document_number: int
    paper_present: bool
    cover_open: bool
    drawer_open: bool
    device_time: datetime
    shift_opened_at: datetime | None = None


@dataclass(frozen=True)
class FiscalDocument:
    """A closed fiscal document as read back from the device's fiscal memory."""

    number: int
    kind: DocumentKind
    date_time: datetime
    fiscal_sign: str
    total: int = 0
    shift_number: int | None = None
    receipt_number: int | None = None
    registration_number: str | None = None
    fn_number: str | None = None
    vat: dict[str, int] = field(default_factory=dict)  # rate code ("12", "none") -> VAT minor units
    offline: bool = False


@dataclass(frozen=True)
class FiscalResult:
    """What a fiscalized receipt returns to the caller: the document plus what the device computed."""

    document: FiscalDocument
    change: int = 0
    shift_opened: bool = False  # a shift was opened automatically for this receipt
    shift_closed_first: FiscalDocument | None = None  # an expired shift was closed (Z) first


@runtime_checkable
class FiscalDevice(Protocol):
    """The operations a device worker performs. Implementations raise `kkm_bridge.driver.errors` types."""

    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def info(self) -> DeviceInfo: ...
    async def status(self) -> DeviceStatus: ...
    async def read_document(self, number: int) -> FiscalDocument: ...
    async def last_document(self) -> FiscalDocument | None: ...
    async def fiscalize(self, receipt: Receipt) -> FiscalResult: ...
    async def cancel_receipt(self) -> None: ...
    async def open_shift(self, cashier: str | None = None) -> FiscalDocument: ...
    async def close_shift(self, cashier: str | None = None) -> FiscalDocument: ...
    async def x_report(self) -> None: ...
    async def cash_in(self, amount: int) -> FiscalDocument: ...
    async def cash_out(self, amount: int) -> FiscalDocument: ...
    async def print_text(self, lines: list[str]) -> None: ...
    async def open_drawer(self) -> None: ...
    async def set_datetime(self, value: datetime) -> None: ...


@runtime_checkable
class ChecksReceipts(Protocol):
    """Optional for a `FiscalDevice`: say, before anything is journalled, what the device could not print.

    `receipt_problems` is synchronous and pure (no I/O, no device state beyond its configuration), so the
    HTTP layer calls it while validating a request and answers 400 with these problems (canonical paths
    such as ``/items/0/name``) instead of accepting a job the device will refuse. Only limits that are
    cheap and certain belong here; the driver keeps its own checks at device time as the last line.
    """

    def receipt_problems(self, receipt: Receipt) -> list[Problem]: ...
