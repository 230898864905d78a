"""Partial refunds of one sale cannot together exceed it: checked by ``Journal.accept`` in its transaction."""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kkm_bridge.journal import Journal, JobState, NewJob, RefundExceedsOriginal

SCOPE = "FL1"
RNM = "032600010282"


def _item(name: str, price: str, quantity: str) -> dict[str, Any]:
    return {"name": name, "price": price, "quantity": quantity, "vat_rate": "16"}


def sale_body() -> dict[str, Any]:
    return {"operation": "sell", "currency": "KZT",
            "items": [_item("Milk", "500", "2"), _item("Bread", "200", "1")],
            "payments": [{"type": "cash", "amount": "1200"}], "total": "1200"}


def refund_body(items: list[dict[str, Any]], *, sign: str = "1111", rnm: str | None = RNM,
                original_total: str = "1200") -> dict[str, Any]:
    total = sum(Decimal(i["price"]) * Decimal(i["quantity"]) for i in items)
    original: dict[str, Any] = {"fiscal_sign": sign, "total": original_total}
    if rnm is not None:
        original["registration_number"] = rnm
    return {"operation": "sell_return", "currency": "KZT", "items": items,
            "payments": [{"type": "cash", "amount": str(total)}], "original": original}


def printed_sale(journal: Journal, sign: str = "1111", scope: str = SCOPE, key: str = "sale") -> str:
    job = journal.accept(NewJob(kind="sell", device_id="kkm1", request=sale_body(), scope=scope,
                                idempotency_key=key)).job
    claimed = journal.claim_next("kkm1")
    assert claimed is not None and claimed.job_id == job.job_id
    journal.complete(job.job_id, {"fiscal_sign": sign, "document_number": 1, "total": "1200.00",
                                  "registration_number": RNM})
    return job.job_id


def refund(journal: Journal, body: dict[str, Any], key: str, scope: str = SCOPE) -> str:
    return journal.accept(NewJob(kind="sell_return", device_id="kkm1", request=body, scope=scope,
                                 idempotency_key=key)).job.job_id


def test_partial_refunds_that_fit_pass_and_the_one_that_exceeds_is_refused(journal: Journal) -> None:
    printed_sale(journal)
    refund(journal, refund_body([_item("Milk", "500", "1")]), "r1")
    refund(journal, refund_body([_item("Bread", "200", "1")]), "r2")
    before = journal.counts()
    with pytest.raises(RefundExceedsOriginal) as info:
        refund(journal, refund_body([_item("Milk", "500", "1"), _item("Bread", "200", "1")]), "r3")
    assert info.value.path == "/total"
    assert info.value.remaining == Decimal("500") and info.value.limit == Decimal("1200")
    assert "500.00 left to refund" in info.value.message
    assert journal.counts() == before  # nothing written
    # What is left still fits.
    refund(journal, refund_body([_item("Milk", "500", "1")]), "r4")


def test_a_line_cannot_be_refunded_more_often_than_it_was_sold(journal: Journal) -> None:
    printed_sale(journal)
    refund(journal, refund_body([_item("Bread", "200", "1")]), "r1")
    with pytest.raises(RefundExceedsOriginal) as info:
        # Within the total (200 of the 1000 left), but the one bread sold is refunded already.
        refund(journal, refund_body([_item("Milk", "500", "1"), _item("Bread", "200", "1")]), "r2")
    assert info.value.path == "/items/1/quantity" and info.value.remaining == 0
    assert "'Bread'" in info.value.message and "0 left to refund" in info.value.message
    with pytest.raises(RefundExceedsOriginal) as info:
        refund(journal, refund_body([_item("Milk", "500", "3")]), "r3")
    assert info.value.path == "/total"  # 1500 > the 1000 left
    with pytest.raises(RefundExceedsOriginal) as info:
        refund(journal, refund_body([_item("Milk", "500", "2.5")], original_total="5000"), "r4")
    assert info.value.path == "/total"


def test_a_failed_refund_frees_its_amount_and_its_requeue_checks_again(journal: Journal) -> None:
    printed_sale(journal)
    first = refund(journal, refund_body([_item("Milk", "500", "2")]), "r1")
    with pytest.raises(RefundExceedsOriginal):
        refund(journal, refund_body([_item("Milk", "500", "1")]), "r2")
    claimed = journal.claim_next("kkm1")
    assert claimed is not None and claimed.job_id == first
    journal.fail(first, "device_refused:0x67", "no paper")
    second = refund(journal, refund_body([_item("Milk", "500", "1")]), "r2")
    # The failed one would now take more than is left: requeueing it is refused, and it stays failed.
    with pytest.raises(RefundExceedsOriginal):
        journal.requeue(first)
    assert journal.get(first).state == JobState.FAILED
    claimed = journal.claim_next("kkm1")
    assert claimed is not None and claimed.job_id == second
    journal.fail(second, "device_refused:0x67", "no paper")
    assert journal.requeue(first).state == JobState.ACCEPTED


def test_references_by_fiscal_data_and_by_the_sale_count_together(journal: Journal) -> None:
    printed_sale(journal, sign="1111")
    printed_sale(journal, sign="2222", key="other sale")
    refund(journal, refund_body([_item("Milk", "500", "2")], sign="1111"), "r1")
    # Without a registration number: the cashbox's own sale with that sign.
    with pytest.raises(RefundExceedsOriginal):
        refund(journal, refund_body([_item("Milk", "500", "1")], sign="1111", rnm=None), "r2")
    # Another sale is untouched; a sale the journal does not hold is limited by the total the refund declares.
    refund(journal, refund_body([_item("Milk", "500", "2")], sign="2222"), "r3")
    refund(journal, refund_body([_item("Tea", "300", "1")], sign="9999", original_total="600"), "r4")
    refund(journal, refund_body([_item("Tea", "300", "1")], sign="9999", original_total="600"), "r5")
    with pytest.raises(RefundExceedsOriginal) as info:
        refund(journal, refund_body([_item("Tea", "300", "1")], sign="9999", original_total="600"), "r6")
    assert info.value.remaining == 0
    # A sale with the same sign on another cashbox is another sale.
    refund(journal, refund_body([_item("Milk", "500", "2")], sign="1111", rnm=None), "r7", scope="FL2")


def test_a_replay_of_an_accepted_refund_is_not_counted_twice(journal: Journal) -> None:
    printed_sale(journal)
    body = refund_body([_item("Milk", "500", "2")])
    first = refund(journal, body, "r1")
    assert refund(journal, body, "r1") == first


def test_concurrent_refunds_cannot_both_take_the_last_part(journal_path: Path) -> None:
    with Journal.open(journal_path) as setup:
        printed_sale(setup)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def one(index: int) -> None:
        with Journal.open(journal_path) as journal:  # one connection each, as separate processes would
            barrier.wait()
            try:
                refund(journal, refund_body([_item("Milk", "500", "1")]), f"c{index}")
                results.append("ok")
            except RefundExceedsOriginal:
                results.append("refused")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok", "ok", "refused", "refused"]


def test_upgrading_a_version_1_file_records_the_refunds_it_holds(journal_path: Path) -> None:
    # Fill it through the journal's API, then drop what later versions added and pretend to be version 1.
    with Journal.open(journal_path) as journal:
        printed_sale(journal)
        refund(journal, refund_body([_item("Milk", "500", "2")]), "r1")
    raw = sqlite3.connect(journal_path)
    raw.execute("DROP TABLE refund_claims")
    raw.execute("DROP TABLE IF EXISTS job_notes")
    raw.execute("DROP INDEX jobs_fiscal_sign")
    raw.execute("DELETE FROM schema_version WHERE version > 1")
    raw.commit()
    raw.close()
    with Journal.open(journal_path) as journal:
        with pytest.raises(RefundExceedsOriginal) as info:
            refund(journal, refund_body([_item("Milk", "500", "1")]), "r2")
        assert info.value.remaining == Decimal("200")  # the refund journalled before the upgrade counts
        refund(journal, refund_body([_item("Bread", "200", "1")]), "r3")
