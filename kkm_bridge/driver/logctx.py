"""Structured context for the driver's log records (job ids, check ids), without threading it
through every call.

The worker that runs a job wraps the driver call::

    with log_context(job_id=job.id, device="kkm1"):
        result = await device.fiscalize(receipt)

and every record the driver and its link log meanwhile carries `job_id` and `device` as attributes
(`extra`), which the daemon's JSON formatter prints. A `ContextVar` follows the asyncio task, so two
devices' workers running concurrently do not mix their ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["current_context", "log_context", "with_context"]

_CONTEXT: ContextVar[dict[str, Any]] = ContextVar("kkm_bridge_driver_log_context", default={})


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to the driver's log records inside the block (nested blocks merge)."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_CONTEXT.get())


def with_context(base: dict[str, Any]) -> dict[str, Any]:
    """`extra=` for a log call: the object's own fields plus the current context."""
    context = _CONTEXT.get()
    return {**base, **context} if context else base
