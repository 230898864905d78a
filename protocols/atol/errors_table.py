"""Device error codes (reply byte [1] of `55 <err> <ext>`) as data.

Codes and meanings: reference §3.7, which lists the relevant part of atol4j's
`error-messages.properties` (decimal keys). The names and English messages are ours. Both the simulator
(to produce errors) and the driver (to explain them) use this table, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final



@dataclass(frozen=True, slots=True)
class DeviceErrorInfo:
    code: int
    name: str
    message: str


NO_ERROR: Final = 0x00
INVALID_PRICE: Final = 0x08
INVALID_QUANTITY: Final = 0x0A
CASH_COUNTER_OVERFLOW: Final = 0x0B
INVALID_LENGTH: Final = 0x14
MODE_ENTRY_BLOCKED: Final = 0x1E
CHECK_DATE_TIME: Final = 0x1F
DATE_BEFORE_FN: Final = 0x20
NOT_ALLOWED_IN_MODE: Final = 0x66
NO_PAPER: Final = 0x67
NO_PRINTER_LINK: Final = 0x68
MECHANICAL_ERROR: Final = 0x69
INVALID_RECEIPT_TYPE: Final = 0x6A
PAYMENT_LESS: Final = 0x72
NOT_SUPPORTED_BY_MODEL: Final = 0x7A
INVALID_PAYMENT_TYPE: Final = 0x7E
RECEIPT_TOTAL_OVERFLOW: Final = 0x81
TENDERED_LESS: Final = 0x86
SHIFT_EXPIRED: Final = 0x88
SALE_RECEIPT_OPEN: Final = 0x89
WRONG_PASSWORD: Final = 0x8C
INVALID_DATE: Final = 0x94
INVALID_TIME: Final = 0x95
NOT_ENOUGH_CASH: Final = 0x98
RECEIPT_CLOSED: Final = 0x9A
RECEIPT_OPEN: Final = 0x9B
SHIFT_OPEN: Final = 0x9C
NOT_FISCALISED: Final = 0xA8
NO_REPORTS: Final = 0xAA
HEAD_OVERHEATED: Final = 0xD1
INVALID_FN_STATE: Final = 0xD4
FN_EXPIRED: Final = 0xD7
FN_ARCHIVE_FULL: Final = 0xD8
TAX_SUM_TOO_LARGE: Final = 0xDF
FN_KEYS_EXHAUSTED: Final = 0xEA
FN_OFD_STORAGE_FULL: Final = 0xEB
FN_HAS_UNSENT: Final = 0xED
SEE_REGISTER_55: Final = 0xEE
FN_SHIFT_EXPIRED: Final = 0xF0
INVALID_COMMAND: Final = 0xF2
TOO_MANY_POSITIONS: Final = 0xF3
NO_DATA: Final = 0xF4
RECEIPT_TOO_LARGE: Final = 0xF6

COVER_OPEN_ERROR: Final = MECHANICAL_ERROR
"""The reference has no device code for "cover open"; the simulator answers with this (named option)
and reports the cover in `3F` flags bit 5."""

_TABLE: Final[list[tuple[int, str, str]]] = [
    (NO_ERROR, "NO_ERROR", "no error"),
    (INVALID_PRICE, "INVALID_PRICE", "invalid price or sum"),
    (INVALID_QUANTITY, "INVALID_QUANTITY", "invalid quantity"),
    (CASH_COUNTER_OVERFLOW, "CASH_COUNTER_OVERFLOW", "cash counter overflow"),
    (INVALID_LENGTH, "INVALID_LENGTH", "invalid length"),
    (MODE_ENTRY_BLOCKED, "MODE_ENTRY_BLOCKED", "entry into the mode is blocked"),
    (CHECK_DATE_TIME, "CHECK_DATE_TIME", "check the date and time"),
    (DATE_BEFORE_FN, "DATE_BEFORE_FN", "device date/time is earlier than the fiscal storage's"),
    (NOT_ALLOWED_IN_MODE, "NOT_ALLOWED_IN_MODE", "command not allowed in this mode"),
    (NO_PAPER, "NO_PAPER", "no paper"),
    (NO_PRINTER_LINK, "NO_PRINTER_LINK", "no link to the printer"),
    (MECHANICAL_ERROR, "MECHANICAL_ERROR", "printer mechanical error"),
    (INVALID_RECEIPT_TYPE, "INVALID_RECEIPT_TYPE", "invalid receipt type"),
    (PAYMENT_LESS, "PAYMENT_LESS", "payments are less than the receipt total"),
    (NOT_SUPPORTED_BY_MODEL, "NOT_SUPPORTED_BY_MODEL", "this model cannot perform the command"),
    (INVALID_PAYMENT_TYPE, "INVALID_PAYMENT_TYPE", "invalid payment type"),
    (RECEIPT_TOTAL_OVERFLOW, "RECEIPT_TOTAL_OVERFLOW", "receipt total overflow"),
    (TENDERED_LESS, "TENDERED_LESS", "amount tendered is less than the receipt total"),
    (SHIFT_EXPIRED, "SHIFT_EXPIRED", "shift exceeded 24 hours"),
    (SALE_RECEIPT_OPEN, "SALE_RECEIPT_OPEN", "a sale receipt is open, operation not possible"),
    (WRONG_PASSWORD, "WRONG_PASSWORD", "wrong password"),
    (INVALID_DATE, "INVALID_DATE", "invalid date"),
    (INVALID_TIME, "INVALID_TIME", "invalid time"),
    (NOT_ENOUGH_CASH, "NOT_ENOUGH_CASH", "not enough cash in the device for the payout"),
    (RECEIPT_CLOSED, "RECEIPT_CLOSED", "receipt closed, operation not possible"),
    (RECEIPT_OPEN, "RECEIPT_OPEN", "receipt open, operation not possible"),
    (SHIFT_OPEN, "SHIFT_OPEN", "shift open, operation not possible"),
    (NOT_FISCALISED, "NOT_FISCALISED", "device not fiscalised"),
    (NO_REPORTS, "NO_REPORTS", "no reports"),
    (HEAD_OVERHEATED, "HEAD_OVERHEATED", "print head overheated"),
    (INVALID_FN_STATE, "INVALID_FN_STATE", "invalid fiscal storage state"),
    (FN_EXPIRED, "FN_EXPIRED", "fiscal storage lifetime expired"),
    (FN_ARCHIVE_FULL, "FN_ARCHIVE_FULL", "fiscal storage archive full"),
    (TAX_SUM_TOO_LARGE, "TAX_SUM_TOO_LARGE", "tax sum greater than the receipt's registrations"),
    (FN_KEYS_EXHAUSTED, "FN_KEYS_EXHAUSTED", "fiscal storage key resource exhausted"),
    (FN_OFD_STORAGE_FULL, "FN_OFD_STORAGE_FULL", "fiscal storage space for unsent documents exhausted"),
    (FN_HAS_UNSENT, "FN_HAS_UNSENT", "fiscal storage has unsent documents"),
    (SEE_REGISTER_55, "SEE_REGISTER_55", "read the extended error code from register 55"),
    (FN_SHIFT_EXPIRED, "FN_SHIFT_EXPIRED", "fiscal storage shift longer than 24 hours"),
    (INVALID_COMMAND, "INVALID_COMMAND", "invalid command"),
    (TOO_MANY_POSITIONS, "TOO_MANY_POSITIONS", "too many positions in the document"),
    (NO_DATA, "NO_DATA", "no data in the command"),
    (RECEIPT_TOO_LARGE, "RECEIPT_TOO_LARGE", "receipt too large (ext 1: bad FFD version, 3: internal, 4: read-only)"),
]

DEVICE_ERRORS: Final[dict[int, DeviceErrorInfo]] = {
    code: DeviceErrorInfo(code, name, message) for code, name, message in _TABLE
}


def describe(code: int, ext: int = 0) -> str:
    """Human-readable text for an error code, e.g. for logs and API error messages."""
    info = DEVICE_ERRORS.get(code)
    text = info.message if info else f"unknown device error {code:#04x}"
    return f"{text} (ext {ext})" if ext else text
