"""The device error codes the simulator answers with, taken from `protocols.atol.errors_table`.

The codec owns the table (code -> name/message); this module only picks, by name, the codes the
simulator's state machine needs, so the state machine reads as `raise DeviceError(codes.NO_PAPER)`.
A few real device codes the simulator needs are not (yet) in the codec's selected table; they are the
atol4j `error-messages.properties` codes and are listed in `CODES_NOT_IN_TABLE` (a test keeps that list
honest). A driver still receives them as a plain `55 <code> <ext>` error.
"""

from __future__ import annotations

from protocols.atol import errors_table as _table


CODES_NOT_IN_TABLE: dict[str, int] = {}


def _pick(name: str, code: int) -> int:
    value = getattr(_table, name, None)
    if isinstance(value, int):
        return value
    if code not in getattr(_table, "DEVICE_ERRORS", {}):
        CODES_NOT_IN_TABLE[name] = code
    return code


class DeviceError(Exception):
    """A command failed with a device error code; the reply is `55 <code> <ext>`."""

    def __init__(self, code: int, ext: int = 0, detail: str = "") -> None:
        super().__init__(f"device error {code:#04x}" + (f": {detail}" if detail else ""))
        self.code = code
        self.ext = ext
        self.detail = detail


INVALID_SUM = _pick("INVALID_PRICE", 0x08)
INVALID_QUANTITY = _pick("INVALID_QUANTITY", 0x0A)
CASH_OVERFLOW = _pick("CASH_COUNTER_OVERFLOW", 0x0B)
NO_MORE_DATA = _pick("NO_MORE_DATA", 0x18)
INVALID_LENGTH = _pick("INVALID_LENGTH", 0x14)
STORNO_EXCEEDS_PAYMENT = _pick("STORNO_EXCEEDS_PAYMENT", 0x70)
NONCASH_EXCEEDS_TOTAL = _pick("NONCASH_EXCEEDS_TOTAL", 0x71)
INVALID_DISCOUNT = _pick("INVALID_DISCOUNT", 0x7B)
OPERATION_AFTER_DISCOUNT = _pick("OPERATION_AFTER_DISCOUNT", 0x7C)
INVALID_SECTION = _pick("INVALID_SECTION", 0x7D)
NOT_ALLOWED_IN_MODE = _pick("NOT_ALLOWED_IN_MODE", 0x66)
NO_PAPER = _pick("NO_PAPER", 0x67)
MECHANICAL_ERROR = _pick("MECHANICAL_ERROR", 0x69)
INVALID_RECEIPT_TYPE = _pick("INVALID_RECEIPT_TYPE", 0x6A)
PAYMENT_LESS = _pick("PAYMENT_LESS", 0x72)
NOT_SUPPORTED = _pick("NOT_SUPPORTED_BY_MODEL", 0x7A)
INVALID_PAYMENT_TYPE = _pick("INVALID_PAYMENT_TYPE", 0x7E)
RECEIPT_OVERFLOW = _pick("RECEIPT_TOTAL_OVERFLOW", 0x81)
SHIFT_EXPIRED = _pick("SHIFT_EXPIRED", 0x88)
ZEROED_CASH = _pick("ZEROED_CASH", 0x8F)
WRONG_PASSWORD = _pick("WRONG_PASSWORD", 0x8C)
INVALID_DATE = _pick("INVALID_DATE", 0x94)
INVALID_TIME = _pick("INVALID_TIME", 0x95)
NOT_ENOUGH_CASH = _pick("NOT_ENOUGH_CASH", 0x98)
RECEIPT_CLOSED = _pick("RECEIPT_CLOSED", 0x9A)
RECEIPT_OPEN = _pick("RECEIPT_OPEN", 0x9B)
SHIFT_OPEN = _pick("SHIFT_OPEN", 0x9C)
NO_REPORTS = _pick("NO_REPORTS", 0xAA)
INVALID_FN_STATE = _pick("INVALID_FN_STATE", 0xD4)
FN_SHIFT_EXPIRED = _pick("FN_SHIFT_EXPIRED", 0xF0)
INVALID_COMMAND = _pick("INVALID_COMMAND", 0xF2)
TOO_MANY_POSITIONS = _pick("TOO_MANY_POSITIONS", 0xF3)
NO_DATA = _pick("NO_DATA", 0xF4)
#: Cover open has no code in the reference; protocols names the one the simulator uses.
COVER_OPEN_ERROR = _pick("COVER_OPEN_ERROR", 0x69)
