"""Every write returns the job as a fresh read of the file would: the store builds the returned ``Job`` from
the values it wrote instead of reading the row back, and these tests hold it to that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from journal_testutil import FakeClock, new_job, sell_body

from kkm_bridge.journal import (
    DuplicateConflict,
    Journal,
    JobResult,
    JobState,
    PreflightFacts,
    canonical_json,
    canonicalize,
)
from kkm_bridge.journal.canonical import from_json_text

FACTS = PreflightFacts(last_document_number=41, shift_number=3, receipt_open=False, shift_open=True,
                       extra={"expected_kind": "sell", "expected_total": 150000, "note": Decimal("1.50")})
RESULT = JobResult(fiscal_sign="1234567890", document_number=42, shift_number=3, receipt_number=7,
                   fiscal_datetime=datetime(2026, 3, 1, 12, 0), total=Decimal("1500.00"),
                   vat={"12": Decimal("160.71")}, extra={"change": "0.00", "registration_number": "0101"})


def _same_as_stored(journal: Journal, job: object) -> None:
    stored = journal.get(job.job_id)  # type: ignore[attr-defined]
    assert job == stored
    # Equal and also iterating alike: the request's keys in the order a parse of the stored text gives.
    assert list(job.request) == list(stored.request)  # type: ignore[attr-defined]


def test_accept_returns_the_stored_job(journal: Journal) -> None:
    body = {"z": 1, "a": [{"y": Decimal("2.50"), "b": 1.0}], "m": {"k": None, "c": True}}
    outcome = journal.accept(new_job(body, idempotency_key="k1", deadline=datetime(2026, 3, 1, 10, 0, 0, 123456,
                                                                                       tzinfo=UTC)))
    _same_as_stored(journal, outcome.job)
    assert outcome.job.request == from_json_text(canonical_json(body)) == canonicalize(body)
    assert outcome.job.request == {"a": [{"b": "1", "y": "2.5"}], "m": {"c": True, "k": None}, "z": "1"}


def test_claim_preflight_complete_fail_requeue_return_the_stored_job(journal: Journal, clock: FakeClock) -> None:
    first = journal.accept(new_job(sell_body("10"), idempotency_key="a")).job
    second = journal.accept(new_job(sell_body("20"), idempotency_key="b")).job
    third = journal.accept(new_job(sell_body("30"), idempotency_key="c")).job

    clock.advance(seconds=1)
    claimed = journal.claim_and_preflight("kkm1", lambda job: FACTS)
    assert claimed is not None and claimed.job_id == first.job_id and claimed.attempts == 1
    assert claimed.preflight is not None and claimed.preflight.extra["note"] == "1.50"  # as stored: text
    _same_as_stored(journal, claimed)

    clock.advance(seconds=1)
    done, nxt = journal.complete_and_claim(first.job_id, RESULT, "kkm1", lambda job: FACTS)
    assert done.state == JobState.DONE and done.document_number == 42 and done.result is not None
    assert done.result["total"] == "1500.00" and done.result["fiscal_datetime"] == "2026-03-01T12:00:00"
    _same_as_stored(journal, done)
    assert nxt is not None and nxt.job_id == second.job_id
    _same_as_stored(journal, nxt)

    clock.advance(seconds=1)
    refreshed = journal.record_preflight(second.job_id, PreflightFacts(42, 3, False))
    _same_as_stored(journal, refreshed)
    failed = journal.fail(second.job_id, "device_refused:0x67", "no paper")
    _same_as_stored(journal, failed)
    requeued = journal.requeue(second.job_id)
    assert requeued.preflight is None and requeued.attempts == 1
    _same_as_stored(journal, requeued)

    plain = journal.claim_next("kkm1")  # no facts: claimed without them
    assert plain is not None and plain.job_id == second.job_id and plain.attempts == 2 and plain.preflight is None
    _same_as_stored(journal, plain)
    completed = journal.complete(second.job_id, {"fiscal_sign": "77", "document_number": "43", "total": "20"})
    assert completed.document_number == 43
    _same_as_stored(journal, completed)
    assert journal.get(third.job_id).state == JobState.ACCEPTED


def test_expired_jobs_failed_on_the_way_are_stored_failed(journal: Journal, clock: FakeClock) -> None:
    late = journal.accept(new_job(sell_body("1"), idempotency_key="late",
                                  deadline=clock.now + timedelta(seconds=5))).job
    ok = journal.accept(new_job(sell_body("2"), idempotency_key="ok")).job
    clock.advance(seconds=10)
    claimed = journal.claim_and_preflight("kkm1", lambda job: FACTS)
    assert claimed is not None and claimed.job_id == ok.job_id
    assert journal.get(late.job_id).error_code == "deadline_expired"


def test_a_taken_job_id_is_a_conflict_and_writes_nothing(journal: Journal) -> None:
    journal.accept(new_job(sell_body("1"), job_id="CHK1"))
    with pytest.raises(DuplicateConflict) as info:
        journal.accept(new_job(sell_body("2"), job_id="CHK1"))
    assert info.value.field == "job_id"
    assert sum(journal.counts().values()) == 1


def test_canonicalize_still_says_where_a_bad_value_is() -> None:
    with pytest.raises(TypeError, match=r"\$\.items\[1\]\.price: object is not a JSON value"):
        canonicalize({"items": [{"price": "1"}, {"price": object()}]})
    with pytest.raises(TypeError, match=r"\$\.a: object keys must be strings"):
        canonicalize({"a": {1: "x"}})
    with pytest.raises(TypeError, match="keys must be strings"):
        canonicalize({1: "x", "b": 2})
