"""Sorting a driver exception into the two things a worker can do about it.

* A *refusal*: the device answered, with an error code, and did not do what was asked (paper out, cover
  open, shift expired...). The job fails with ``device:<name>`` and the device's code in the message, after
  the worker has checked (``decide``) that nothing was printed and cancelled any open receipt.
* Anything else (link dropped, timeout, garbage frames, a driver bug): the outcome is *unknown*. The job
  stays ``in_progress``; once the device answers again, recovery asks it what really happened.

Unknown exceptions are treated as unknown outcomes on purpose: a wrong guess there costs a retry, a wrong
guess the other way could cost a double-printed receipt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kkm_bridge.driver.errors import DeviceRefused, ReceiptNotSupported, ShiftPolicyRefused

__all__ = ["Refusal", "refusal_of"]


@dataclass(frozen=True)
class Refusal:
    code: int | None  # the device's error code, when it sent one
    name: str  # lower_snake_case, e.g. "no_paper"
    message: str

    @property
    def error_code(self) -> str:
        """What the journal stores as the failed job's ``error_code``."""
        from .errors import REFUSAL_PREFIX

        return f"{REFUSAL_PREFIX}{self.name}"

    @property
    def error_message(self) -> str:
        prefix = f"[0x{self.code:02X}] " if self.code is not None else ""
        return f"{prefix}{self.message}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _clean(name: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "device_error"


def refusal_of(exc: BaseException) -> Refusal | None:
    """The refusal ``exc`` reports, or None when the outcome of the command is unknown.

    Refusals: the device's own (``DeviceRefused``: code, name, message), the driver's shift policy
    (``ShiftPolicyRefused``, with the device's code when a device error caused it) and receipts the driver
    cannot express in device commands (``ReceiptNotSupported``, refused before anything is sent).
    """
    if isinstance(exc, DeviceRefused):
        message = exc.message + (f" at {exc.step}" if exc.step is not None else "")
        return Refusal(exc.code, _clean(exc.name), message)
    if isinstance(exc, ShiftPolicyRefused):
        code = exc.cause.code if exc.cause is not None else None
        return Refusal(code, _clean(_snake(type(exc).__name__)), str(exc))
    if isinstance(exc, ReceiptNotSupported):
        return Refusal(None, "receipt_not_supported", str(exc))
    return None
