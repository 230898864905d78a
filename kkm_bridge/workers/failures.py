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


def _driver_refusal_types() -> tuple[type[BaseException], ...]:
    try:
        from kkm_bridge.driver import errors as driver_errors
    except ImportError:  # pragma: no cover - the driver package always ships errors.py
        return ()
    found: list[type[BaseException]] = []
    for name in ("DeviceError", "DeviceRefused", "DeviceRefusal"):
        candidate = getattr(driver_errors, name, None)
        if isinstance(candidate, type) and issubclass(candidate, BaseException):
            found.append(candidate)
    return tuple(found)


def refusal_of(exc: BaseException) -> Refusal | None:
    """The refusal ``exc`` reports, or None when the outcome of the command is unknown."""
    types = _driver_refusal_types()
    if not types or not isinstance(exc, types):
        return None
    code = getattr(exc, "code", None)
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    name = getattr(exc, "name", None)
    if not isinstance(name, str) or not name:
        name = _snake(type(exc).__name__)
    message = getattr(exc, "device_message", None) or getattr(exc, "message", None) or str(exc)
    return Refusal(code, re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "device_error", str(message))
