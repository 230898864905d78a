"""What can go wrong when the driver talks to a printer, as types.

Two families, because callers must react differently:

- `LinkError`: we do not know what the device did (the link dropped, a reply never came, the bytes
  made no sense). The device workers must reconnect and *ask the device* before retrying anything
  fiscal (exactly-once recovery).
- `DeviceRefused`: the device answered and said no, with its own error code. Nothing was done by the
  refused command; the caller can show the message to a person (load paper, close the cover) or fix
  the request. Each subclass carries the device's code; `DEVICE_ERROR_CLASSES` maps codes to classes
  as data.

`ShiftPolicyRefused` is ours, not the device's: the shift policy decided not to go on (an expired
shift while automatic re-opening is off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from protocols.atol import errors_table as et

__all__ = [
    "DEVICE_ERROR_CLASSES",
    "CoverOpen",
    "DeviceRefused",
    "DeviceUnreachable",
    "DriverError",
    "InvalidCommand",
    "InvalidPrice",
    "InvalidQuantity",
    "LinkError",
    "LinkTimeout",
    "MechanicalError",
    "NoMoreData",
    "NotAllowedInMode",
    "NotEnoughCash",
    "PaperOut",
    "PaymentLessThanTotal",
    "ProtocolFailure",
    "ReceiptClosed",
    "ReceiptNotSupported",
    "ReceiptOpen",
    "ShiftExpired",
    "ShiftOpen",
    "ShiftPolicyRefused",
    "Step",
    "TaskLost",
    "WrongPassword",
    "refusal_for",
]

NO_MORE_DATA: Final = 0x18
"""`A4 46` past the last TLV of a stored document. Not in the codec's selected table (atol4j code 24);
the simulator answers it and the reference says "read until the device returns an error"."""


class DriverError(Exception):
    """Base of every error the driver raises."""


# -- link ----------------------------------------------------------------------------------------


class LinkError(DriverError):
    """The outcome of the operation is unknown: ask the device (status, last document) before retrying."""


class DeviceUnreachable(LinkError):
    """The transport failed (not found, busy, permission, disconnected). `__cause__` is the transport error."""


class LinkTimeout(LinkError):
    """The device stopped answering within the command's timeout, after bounded retries."""


class ProtocolFailure(LinkError):
    """The device answered something the protocol does not allow here."""


class TaskLost(ProtocolFailure):
    """The device no longer knows a task we queued (`B3` to REQ): it was reset or powered off."""


# -- device refusals ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Which command of an operation a refusal belongs to (pipelined receipts report this)."""

    index: int  # 0-based position in the operation's command list
    name: str  # e.g. "item 3 'Milk'", "close receipt"
    command: int  # application command code (first byte)

    def __str__(self) -> str:
        return f"step {self.index + 1} ({self.name}, command {self.command:02X})"


class DeviceRefused(DriverError):
    """The device refused a command with error `code` (reply `55 <code> <ext>`)."""

    default_code: int = 0

    def __init__(self, code: int, *, ext: int = 0, step: Step | None = None, detail: str = "") -> None:
        info = et.DEVICE_ERRORS.get(code)
        self.code = code
        self.ext = ext
        self.name = info.name if info else ("NO_MORE_DATA" if code == NO_MORE_DATA else f"ERROR_{code:02X}")
        self.message = et.describe(code, ext) if info or code != NO_MORE_DATA else "no more data"
        self.step = step
        self.detail = detail
        text = f"device error {code:#04x} {self.name}: {self.message}"
        if step is not None:
            text += f" at {step}"
        if detail:
            text += f" ({detail})"
        super().__init__(text)

    def at(self, step: Step) -> "DeviceRefused":
        """The same refusal, attributed to `step`."""
        return type(self)(self.code, ext=self.ext, step=step, detail=self.detail)


class PaperOut(DeviceRefused):
    default_code = et.NO_PAPER


class MechanicalError(DeviceRefused):
    default_code = et.MECHANICAL_ERROR


class CoverOpen(MechanicalError):
    """The reference has no cover-open code: the device answers `COVER_OPEN_ERROR` and sets 3F bit 5;
    the driver reads 3F to tell this from another mechanical error."""

    default_code = et.COVER_OPEN_ERROR


class ShiftExpired(DeviceRefused):
    default_code = et.SHIFT_EXPIRED


class ReceiptOpen(DeviceRefused):
    default_code = et.RECEIPT_OPEN


class ReceiptClosed(DeviceRefused):
    default_code = et.RECEIPT_CLOSED


class ShiftOpen(DeviceRefused):
    default_code = et.SHIFT_OPEN


class WrongPassword(DeviceRefused):
    default_code = et.WRONG_PASSWORD


class PaymentLessThanTotal(DeviceRefused):
    default_code = et.PAYMENT_LESS


class NotAllowedInMode(DeviceRefused):
    default_code = et.NOT_ALLOWED_IN_MODE


class NotEnoughCash(DeviceRefused):
    default_code = et.NOT_ENOUGH_CASH


class InvalidCommand(DeviceRefused):
    default_code = et.INVALID_COMMAND


class InvalidPrice(DeviceRefused):
    default_code = et.INVALID_PRICE


class InvalidQuantity(DeviceRefused):
    default_code = et.INVALID_QUANTITY


class NoMoreData(DeviceRefused):
    default_code = NO_MORE_DATA


DEVICE_ERROR_CLASSES: Final[dict[int, type[DeviceRefused]]] = {
    et.NO_PAPER: PaperOut,
    et.MECHANICAL_ERROR: MechanicalError,
    et.SHIFT_EXPIRED: ShiftExpired,
    et.FN_SHIFT_EXPIRED: ShiftExpired,
    et.RECEIPT_OPEN: ReceiptOpen,
    et.SALE_RECEIPT_OPEN: ReceiptOpen,
    et.RECEIPT_CLOSED: ReceiptClosed,
    et.SHIFT_OPEN: ShiftOpen,
    et.WRONG_PASSWORD: WrongPassword,
    et.PAYMENT_LESS: PaymentLessThanTotal,
    et.TENDERED_LESS: PaymentLessThanTotal,
    et.NOT_ALLOWED_IN_MODE: NotAllowedInMode,
    et.NOT_ENOUGH_CASH: NotEnoughCash,
    et.INVALID_COMMAND: InvalidCommand,
    et.INVALID_PRICE: InvalidPrice,
    et.INVALID_QUANTITY: InvalidQuantity,
    NO_MORE_DATA: NoMoreData,
}
"""Device error code -> driver class. Codes not listed become a plain `DeviceRefused`."""


def refusal_for(code: int, ext: int = 0, step: Step | None = None, *, cover_open: bool = False) -> DeviceRefused:
    """The driver error for device error `code`. `cover_open` (from 3F) turns a mechanical error
    into `CoverOpen`."""
    cls = DEVICE_ERROR_CLASSES.get(code, DeviceRefused)
    if cover_open and issubclass(cls, MechanicalError):
        cls = CoverOpen
    return cls(code, ext=ext, step=step)


# -- ours ------------------------------------------------------------------------------------------


class ShiftPolicyRefused(DriverError):
    """The shift policy refuses the operation (e.g. the shift is over 24 h and auto re-open is off)."""

    def __init__(self, message: str, *, cause: DeviceRefused | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class ReceiptNotSupported(DriverError, ValueError):
    """The receipt cannot be expressed in ATOL commands (a VAT rate missing from the device tax table,
    a name that does not fit, no payments)."""
