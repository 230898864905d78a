"""Errors the workers raise to their callers, and the journal error codes they write.

The HTTP layer maps them: ``QueueFull`` -> 429 (``retry_after``), ``DeviceUnavailable`` -> 503
(``retry_after``), ``UnknownDevice`` -> 404, ``WorkerStopped`` -> 503. A failed job's ``error_code`` says
why; ``REFUSAL_PREFIX`` marks a device refusal (-> 422 with the device's code and message).
"""

from __future__ import annotations

__all__ = [
    "WorkerError", "QueueFull", "DeviceUnavailable", "UnknownDevice", "WorkerStopped",
    "CODE_DEVICE_UNREACHABLE", "CODE_DEADLINE_EXPIRED", "CODE_INVALID_REQUEST", "CODE_RETRIES_EXHAUSTED",
    "CODE_INTERRUPTED", "REFUSAL_PREFIX", "is_refusal_code",
]

#: The device could not be reached before the job's deadline; nothing was sent. (HTTP: 503)
CODE_DEVICE_UNREACHABLE = "device_unreachable"
#: The deadline passed before the job could be (re)started; nothing was printed. (HTTP: 503 / 504)
CODE_DEADLINE_EXPIRED = "deadline_expired"
#: The job's request could not be turned into a device operation; nothing was sent. (HTTP: 400)
CODE_INVALID_REQUEST = "invalid_request"
#: Every attempt broke off and recovery found nothing printed each time. (HTTP: 503)
CODE_RETRIES_EXHAUSTED = "retries_exhausted"
#: A job without a fiscal document (X report, print text...) was cut off; re-run it if needed.
CODE_INTERRUPTED = "interrupted"
#: ``device:<name>`` e.g. ``device:no_paper``: the device refused; the message starts with ``[0x67]``.
REFUSAL_PREFIX = "device:"


def is_refusal_code(code: str | None) -> bool:
    return bool(code) and str(code).startswith(REFUSAL_PREFIX)


class WorkerError(Exception):
    """Base class of the errors ``DeviceWorker.submit`` / ``DeviceManager.submit`` raise."""


class QueueFull(WorkerError):
    """The device's queue holds ``maxsize`` waiting jobs. Nothing was journalled. (HTTP: 429)"""

    def __init__(self, size: int, maxsize: int, retry_after: float = 1.0) -> None:
        super().__init__(f"the device queue is full ({size}/{maxsize} jobs waiting)")
        self.size = size
        self.maxsize = maxsize
        self.retry_after = retry_after


class DeviceUnavailable(WorkerError):
    """The device is not reachable now (sync callers asked to be told at once). Nothing was journalled."""

    def __init__(self, device_id: str, reason: str, retry_after: float = 5.0) -> None:
        super().__init__(f"device {device_id} is unreachable: {reason}")
        self.device_id = device_id
        self.reason = reason
        self.retry_after = retry_after


class UnknownDevice(WorkerError, KeyError):
    def __init__(self, device_id: str) -> None:
        super().__init__(device_id)
        self.device_id = device_id

    def __str__(self) -> str:
        return f"no device {self.device_id!r} is configured"


class WorkerStopped(WorkerError):
    """The worker is stopping or stopped and accepts no new jobs."""
