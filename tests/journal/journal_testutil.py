"""Helpers shared by the journal tests (a module, not conftest, so tests can import it by name)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kkm_bridge.journal import NewJob, Priority


class FakeClock:
    """A settable clock, so date-range tests never depend on the wall clock."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def sell_body(total: str = "1500.00", name: str = "Bread") -> dict[str, Any]:
    return {
        "fiscal_id": "kkm1",
        "items": [{"name": name, "quantity": 1, "price": total, "vat_rate": "12", "measurement": "pcs"}],
        "total_sum": total,
        "payment_type": "cash",
    }


def new_job(
    request: dict[str, Any] | None = None,
    *,
    kind: str = "sell",
    device_id: str = "kkm1",
    priority: Priority = Priority.INTERACTIVE,
    **kwargs: Any,
) -> NewJob:
    return NewJob(kind=kind, device_id=device_id, request=request or sell_body(), priority=priority, **kwargs)
