"""Helpers shared by the worker tests and the crash-test subprocess (``worker_proc.py``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kkm_bridge.driver.api import FiscalDevice
from kkm_bridge.journal import Job, JobState

RECEIPT = "receipt"  # simulators.atol.fiscal_memory.DocumentKind.RECEIPT


def make_device(uri: str, **options: Any) -> FiscalDevice:
    """The real ATOL driver on a transport URI (``sim://name``, ``tcp://...``, ``serial://...``)."""
    from kkm_bridge.driver.factory import make_device as make_driver

    return make_driver(uri, **options)


def sell_body(price: str = "500.00", quantity: str = "1", name: str = "Milk", pay: str | None = None) -> dict[str, Any]:
    total = Decimal(price) * Decimal(quantity)
    return {
        "operation": "sell",
        "date_time": "2026-01-05T10:30:00",
        "items": [{"name": name, "price": price, "quantity": quantity, "vat_rate": "none"}],
        "payments": [{"type": "cash", "amount": pay or str(total)}],
    }


def receipts_in(documents: list[Any]) -> list[Any]:
    """Receipt documents of a simulator's fiscal memory (``sim.documents`` or the state file's dicts)."""
    def kind(d: Any) -> str:
        return d["kind"] if isinstance(d, dict) else d.kind
    return [d for d in documents if kind(d) == RECEIPT]


def check_exactly_once(documents: list[Any], jobs: list[Job]) -> None:
    """The acceptance check of every recovery test: one receipt document per done job, none for failed
    jobs, and each done job's stored result equals its document (number, fiscal sign, total)."""
    def get(d: Any, name: str) -> Any:
        return d[name] if isinstance(d, dict) else getattr(d, name)

    receipts = receipts_in(documents)
    done = [job for job in jobs if job.state is JobState.DONE]
    assert all(job.is_terminal for job in jobs), [(j.job_id, j.state) for j in jobs]
    assert len(receipts) == len(done), (len(receipts), [(j.job_id, j.state, j.error_code) for j in jobs])
    by_number = {get(d, "number"): d for d in receipts}
    assert len({job.document_number for job in done}) == len(done)
    for job in done:
        document = by_number[job.document_number]
        assert job.fiscal_sign == get(document, "fiscal_sign")
        assert job.result is not None
        assert Decimal(str(job.result["total"])) == Decimal(get(document, "total")) / 100
        assert job.result["total_minor"] == get(document, "total")
