"""Partial refunds of one sale over real HTTP: together they cannot exceed the sale (409
refund_exceeds_original, nothing printed, nothing journalled), concurrent ones cannot both take its last
part, and a refund the device refused frees its part."""

from __future__ import annotations

import asyncio
from typing import Any

from http_testutil import MILK, Api, journal_jobs, sell_body

from kkm_bridge.config import Config
from simulators.atol import Simulator

BREAD = {"name": "Bread", "quantity": 1, "price": 200, "vat_rate": 16, "measurement": "pcs"}


def receipts(sim: Simulator) -> list[Any]:
    return [d for d in sim.documents if d.kind == "receipt"]


def partial(sale: dict[str, Any], items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    total = sum(item["price"] * item["quantity"] for item in items)
    return {"fiscal_check_id": sale["fiscal_check_id"], "items": items, "total_sum": total, "payment_type": "cash",
            **extra}


async def _sale(api: Api) -> dict[str, Any]:
    status, sale, _ = await api.post("/api/v1/check/sell",
                                     sell_body(items=[{**MILK, "quantity": 2}, BREAD], total_sum=1200))
    assert status == 200, sale
    return dict(sale)


async def test_partial_refunds_that_fit_pass_and_one_that_exceeds_is_refused(
    api: Api, simulator: Simulator, config: Config
) -> None:
    sale = await _sale(api)
    status, first, _ = await api.post("/api/v1/check/refund", partial(sale, [MILK]))
    assert status == 200, first
    status, second, _ = await api.post("/api/v1/check/refund", partial(sale, [BREAD]))
    assert status == 200, second
    jobs_before = len(journal_jobs(config))
    # 700 of the 1200 are refunded: 500 are left; a refund of 700 does not fit.
    status, error, _ = await api.post("/api/v1/check/refund", partial(sale, [MILK, BREAD]))
    assert status == 409, error
    assert error["success"] is False and error["error"]["code"] == "refund_exceeds_original"
    assert "500.00 left to refund" in error["error"]["message"]
    assert error["error"]["details"][0]["path"] == "/total_sum"
    assert len(receipts(simulator)) == 3 and len(journal_jobs(config)) == jobs_before
    # A line refunded as often as it was sold: pointed at by its index, the total would still fit.
    status, error, _ = await api.post("/api/v1/check/refund", partial(sale, [{**BREAD, "price": 200}]))
    assert status == 409 and error["error"]["details"][0]["path"] == "/items/0/quantity"
    # A full refund of the sale (no items): what it lists comes from the sale, so the reference is at fault.
    status, error, _ = await api.post("/api/v1/check/refund", {"fiscal_check_id": sale["fiscal_check_id"]})
    assert status == 409 and error["error"]["details"][0]["path"] == "/fiscal_check_id"
    # The sale referenced by its fiscal data counts against the same limit.
    original = {"fiscal_sign": sale["fiscal_sign"], "date_time": sale["date_time"],
                "registration_number": sale["registration_number"], "total": sale["total"]}
    status, error, _ = await api.post("/api/v1/check/refund",
                                      sell_body(original=original, items=[MILK, BREAD], total_sum=700))
    assert status == 409 and error["error"]["code"] == "refund_exceeds_original"
    status, last, _ = await api.post("/api/v1/check/refund", sell_body(original=original))
    assert status == 200, last
    assert len(receipts(simulator)) == 4 and [d.total for d in receipts(simulator)] == [120000, 50000, 20000, 50000]


async def test_concurrent_refunds_cannot_both_pass(api: Api, simulator: Simulator) -> None:
    sale = await _sale(api)
    # Each fits on its own (1000 of 1200), both together do not.
    answers = await asyncio.gather(*(
        api.post("/api/v1/check/refund", partial(sale, [{**MILK, "quantity": 2}], idempotency_key=f"c{i}"))
        for i in range(3)
    ))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200, 409, 409], answers
    assert len(receipts(simulator)) == 2


async def test_a_refund_the_device_refused_frees_its_part(api: Api, simulator: Simulator) -> None:
    sale = await _sale(api)
    simulator.device.paper_present = False
    status, error, _ = await api.post("/api/v1/check/refund", partial(sale, [{**MILK, "quantity": 2}, BREAD],
                                                                       idempotency_key="r1"))
    assert status == 422 and error["error"]["code"] == "device_refused"
    simulator.device.paper_present = True
    status, refund, _ = await api.post("/api/v1/check/refund", partial(sale, [MILK], idempotency_key="r2"))
    assert status == 200, refund
    # Retrying the refused one (same key: the job is re-run) no longer fits: 500 of 1200 are refunded.
    status, error, _ = await api.post("/api/v1/check/refund", partial(sale, [{**MILK, "quantity": 2}, BREAD],
                                                                       idempotency_key="r1"))
    assert status == 409 and error["error"]["code"] == "refund_exceeds_original"
    assert "700.00 left to refund" in error["error"]["message"]
    assert [d.total for d in receipts(simulator)] == [120000, 50000]


async def test_an_absurd_original_total_is_a_400_not_a_crash(api: Api, config: Config, simulator: Simulator) -> None:
    """Found by schemathesis: formatting 1e999999999 as plain text ran out of memory (a 500)."""
    body = sell_body(original={"fiscal_sign": "1234567890", "date_time": "2026-01-15T09:00:00",
                               "registration_number": "032600010282", "total": "1e999999999"})
    status, error, _ = await api.post("/api/v1/check/refund", body)
    assert status == 400, error
    assert error["error"]["details"][0]["path"] == "/original/total"
    assert error["error"]["details"][0]["code"] == "value_too_large"
    assert receipts(simulator) == [] and journal_jobs(config) == []
