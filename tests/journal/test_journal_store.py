"""accept / replay / conflict, the queue order, the state machine, results and history queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from journal_testutil import FakeClock, new_job, sell_body

from kkm_bridge.journal import (
    ALLOWED_TRANSITIONS,
    DuplicateConflict,
    InvalidTransition,
    Job,
    JobNotFound,
    JobResult,
    JobState,
    Journal,
    PreflightFacts,
    Priority,
    body_hash,
)

# ---------------------------------------------------------------------------------------------- accept


def test_accept_records_a_canonical_request(journal: Journal) -> None:
    body = {"total_sum": Decimal("1500.00"), "items": [{"price": 1500.0, "quantity": 1}]}
    outcome = journal.accept(new_job(body, idempotency_key="key-1", order_id="order-1"))
    assert outcome.created and not outcome.replay
    job = outcome.job
    assert job.state is JobState.ACCEPTED
    assert job.attempts == 0
    assert job.job_id.startswith("job_")
    assert job.request == {"items": [{"price": "1500", "quantity": "1"}], "total_sum": "1500"}
    assert job.body_hash == body_hash(body)
    assert journal.get(job.job_id) == job
    assert journal.find_by_key("key-1") == job
    assert journal.find_by_order_id("order-1") == job


def test_accepted_job_survives_reopen(journal_path: Path) -> None:
    with Journal.open(journal_path) as j:
        job = j.accept(new_job(idempotency_key="k", job_id="chk_0001")).job
    with Journal.open(journal_path) as j:
        assert j.get("chk_0001") == job


def test_same_key_same_body_is_a_replay(journal: Journal) -> None:
    first = journal.accept(new_job({"a": 1, "b": {"x": "y", "z": 2.50}}, idempotency_key="k")).job
    # Different key order and number formatting, same JSON values.
    again = journal.accept(new_job({"b": {"z": Decimal("2.5"), "x": "y"}, "a": 1.0}, idempotency_key="k"))
    assert again.replay
    assert again.job == first
    assert journal.counts()[JobState.ACCEPTED] == 1


def test_replay_returns_the_current_state_of_a_finished_job(journal: Journal) -> None:
    job = journal.accept(new_job(idempotency_key="k")).job
    journal.claim_next("kkm1")
    journal.complete(job.job_id, JobResult(fiscal_sign="12345", document_number=7, shift_number=3))
    again = journal.accept(new_job(idempotency_key="k"))
    assert again.replay
    assert again.job.state is JobState.DONE
    assert again.job.fiscal_sign == "12345"


def test_same_key_different_body_conflicts(journal: Journal) -> None:
    job = journal.accept(new_job(sell_body("100.00"), idempotency_key="k")).job
    with pytest.raises(DuplicateConflict) as info:
        journal.accept(new_job(sell_body("100.01"), idempotency_key="k"))
    assert info.value.existing_job_id == job.job_id
    assert info.value.field == "idempotency_key"
    assert journal.counts()[JobState.ACCEPTED] == 1


def test_same_key_different_kind_conflicts(journal: Journal) -> None:
    journal.accept(new_job(idempotency_key="k", kind="sell"))
    with pytest.raises(DuplicateConflict) as info:
        journal.accept(new_job(idempotency_key="k", kind="sell_return"))
    assert info.value.field == "idempotency_key"


def test_order_id_replay_and_conflict(journal: Journal) -> None:
    job = journal.accept(new_job(sell_body("10.00"), order_id="shop-42", priority=Priority.BACKGROUND)).job
    replay = journal.accept(new_job(sell_body("10.00"), order_id="shop-42", priority=Priority.BACKGROUND))
    assert replay.replay and replay.job.job_id == job.job_id
    with pytest.raises(DuplicateConflict) as info:
        journal.accept(new_job(sell_body("99.00"), order_id="shop-42"))
    assert (info.value.existing_job_id, info.value.field) == (job.job_id, "order_id")


def test_order_id_may_be_reused_by_a_refund_of_that_order(journal: Journal) -> None:
    sale = journal.accept(new_job(order_id="shop-42")).job
    refund = journal.accept(new_job(order_id="shop-42", kind="sell_return")).job
    assert sale.job_id != refund.job_id


def test_key_and_order_id_owned_by_different_jobs_conflict(journal: Journal) -> None:
    journal.accept(new_job(sell_body("1.00"), idempotency_key="k1"))
    journal.accept(new_job(sell_body("1.00"), order_id="o1"))
    with pytest.raises(DuplicateConflict):
        journal.accept(new_job(sell_body("1.00"), idempotency_key="k1", order_id="o1"))


def test_key_is_unique_per_scope(journal: Journal) -> None:
    # Default scope is the device: the same key on two devices is two jobs.
    a = journal.accept(new_job(idempotency_key="k", device_id="kkm1")).job
    b = journal.accept(new_job(idempotency_key="k", device_id="kkm2")).job
    assert a.job_id != b.job_id
    assert journal.find_by_key("k", scope="kkm2") == b
    # A shared scope (e.g. one API client) spans devices: the same key to another device is a conflict.
    journal.accept(new_job(idempotency_key="s", device_id="kkm1", scope="client-a"))
    with pytest.raises(DuplicateConflict):
        journal.accept(new_job(idempotency_key="s", device_id="kkm2", scope="client-a"))


def test_find_by_key_across_scopes_is_ambiguous(journal: Journal) -> None:
    journal.accept(new_job(idempotency_key="k", device_id="kkm1"))
    journal.accept(new_job(idempotency_key="k", device_id="kkm2"))
    from kkm_bridge.journal import JournalError

    with pytest.raises(JournalError):
        journal.find_by_key("k")
    assert journal.find_by_key("missing") is None


def test_explicit_job_id_must_be_new(journal: Journal) -> None:
    journal.accept(new_job(job_id="chk_1"))
    with pytest.raises(DuplicateConflict) as info:
        journal.accept(new_job(job_id="chk_1"))
    assert info.value.field == "job_id"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "Sell!"},
        {"device_id": ""},
        {"idempotency_key": ""},
        {"order_id": "x" * 300},
        {"job_id": "has space"},
    ],
)
def test_bad_input_is_rejected_before_writing(journal: Journal, kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        journal.accept(new_job(**kwargs))
    assert sum(journal.counts().values()) == 0


def test_non_json_request_is_rejected(journal: Journal) -> None:
    with pytest.raises((TypeError, ValueError)):
        journal.accept(new_job({"when": object()}))
    with pytest.raises(ValueError):
        journal.accept(new_job({"price": float("nan")}))


# ---------------------------------------------------------------------------------------------- queue


def test_interactive_jobs_go_before_background_then_fifo(journal: Journal) -> None:
    ids = {}
    for name, priority in [("bg1", Priority.BACKGROUND), ("bg2", Priority.BACKGROUND),
                           ("in1", Priority.INTERACTIVE), ("bg3", Priority.BACKGROUND),
                           ("in2", Priority.INTERACTIVE)]:
        ids[name] = journal.accept(new_job(priority=priority, job_id=name)).job.job_id
    journal.accept(new_job(device_id="other", job_id="other1"))
    order = []
    while (job := journal.claim_next("kkm1")) is not None:
        order.append(job.job_id)
        assert job.state is JobState.IN_PROGRESS and job.attempts == 1
    assert order == ["in1", "in2", "bg1", "bg2", "bg3"]
    assert journal.claim_next("nobody") is None
    assert journal.get("other1").state is JobState.ACCEPTED


def test_expired_accepted_jobs_fail_instead_of_starting(journal: Journal, clock: FakeClock) -> None:
    journal.accept(new_job(job_id="late", deadline=clock.now + timedelta(seconds=30)))
    journal.accept(new_job(job_id="ok", deadline=clock.now + timedelta(minutes=10)))
    clock.advance(minutes=1)
    job = journal.claim_next("kkm1")
    assert job is not None and job.job_id == "ok"
    late = journal.get("late")
    assert late.state is JobState.FAILED
    assert late.error_code == "deadline_expired"
    assert late.attempts == 0


# ---------------------------------------------------------------------------------------------- states


def drive_to(journal: Journal, state: JobState, job_id: str) -> Job:
    """Create a job and move it to ``state`` along allowed transitions."""
    journal.accept(new_job(job_id=job_id, device_id=f"dev-{job_id}"))
    if state is JobState.ACCEPTED:
        return journal.get(job_id)
    claimed = journal.claim_next(f"dev-{job_id}")
    assert claimed is not None and claimed.job_id == job_id
    if state is JobState.IN_PROGRESS:
        return claimed
    if state is JobState.DONE:
        return journal.complete(job_id, {"fiscal_sign": "1"})
    return journal.fail(job_id, "paper_out", "no paper")


OPERATIONS: dict[JobState, Callable[[Journal, str], Job]] = {
    JobState.DONE: lambda j, job_id: j.complete(job_id, {"fiscal_sign": "1"}),
    JobState.FAILED: lambda j, job_id: j.fail(job_id, "e", "m"),
    JobState.ACCEPTED: lambda j, job_id: j.requeue(job_id),
}


@pytest.mark.parametrize("start", list(JobState))
@pytest.mark.parametrize("target", list(OPERATIONS))
def test_transitions_follow_the_state_machine(journal: Journal, start: JobState, target: JobState) -> None:
    job_id = f"{start.value}-{target.value}"
    drive_to(journal, start, job_id)
    if target in ALLOWED_TRANSITIONS[start]:
        assert OPERATIONS[target](journal, job_id).state is target
    else:
        with pytest.raises(InvalidTransition) as info:
            OPERATIONS[target](journal, job_id)
        assert (info.value.from_state, info.value.to_state) == (start.value, target.value)
        assert journal.get(job_id).state is start  # unchanged


def test_claim_is_the_only_way_into_in_progress(journal: Journal) -> None:
    for state in JobState:
        drive_to(journal, state, f"c-{state.value}")
    # Only the accepted one is claimable.
    claimed = [journal.claim_next(f"dev-c-{state.value}") for state in JobState]
    assert [job.job_id if job else None for job in claimed] == ["c-accepted", None, None, None]


def test_preflight_only_while_in_progress(journal: Journal) -> None:
    journal.accept(new_job(job_id="j1"))
    facts = PreflightFacts(last_document_number=41, shift_number=3, receipt_open=False)
    with pytest.raises(InvalidTransition):
        journal.record_preflight("j1", facts)
    journal.claim_next("kkm1")
    job = journal.record_preflight("j1", facts)
    assert job.preflight == facts
    assert journal.get("j1").preflight == facts
    journal.complete("j1", {"fiscal_sign": "x"})
    with pytest.raises(InvalidTransition):
        journal.record_preflight("j1", facts)


def test_claim_and_preflight_claims_and_records_in_one_step(journal: Journal) -> None:
    journal.accept(new_job(job_id="low", priority=Priority.BACKGROUND))
    journal.accept(new_job(job_id="high"))
    seen: list[Job] = []

    def facts_for(job: Job) -> PreflightFacts:
        seen.append(job)
        return PreflightFacts(41, 3, False, shift_open=True, extra={"expected_kind": "sell"})

    job = journal.claim_and_preflight("kkm1", facts_for)
    assert job is not None and job.job_id == "high"  # the same order as claim_next
    assert [(j.job_id, j.state, j.attempts) for j in seen] == [("high", JobState.ACCEPTED, 0)]
    assert job.state is JobState.IN_PROGRESS and job.attempts == 1 and job.started_at is not None
    facts = PreflightFacts(41, 3, False, shift_open=True, extra={"expected_kind": "sell"})
    assert job.preflight == facts and job.preflight_at is not None
    assert journal.get("high") == job
    assert journal.claim_and_preflight("kkm2", facts_for) is None  # nothing queued for that device
    assert len(seen) == 1


def test_claim_and_preflight_without_facts_is_a_plain_claim(journal: Journal) -> None:
    journal.accept(new_job(job_id="j1"))
    job = journal.claim_and_preflight("kkm1", lambda job: None)
    assert job is not None and job.state is JobState.IN_PROGRESS and job.attempts == 1
    assert job.preflight is None and job.preflight_at is None


def test_claim_and_preflight_claims_nothing_when_the_facts_fail(journal: Journal) -> None:
    journal.accept(new_job(job_id="j1"))

    def broken(job: Job) -> PreflightFacts:
        raise RuntimeError("planner bug")

    with pytest.raises(RuntimeError):
        journal.claim_and_preflight("kkm1", broken)
    job = journal.get("j1")
    assert job.state is JobState.ACCEPTED and job.attempts == 0 and job.preflight is None


def test_complete_and_claim_finishes_one_job_and_claims_the_next(journal: Journal) -> None:
    journal.accept(new_job(job_id="first"))
    journal.accept(new_job(job_id="second"))
    journal.claim_and_preflight("kkm1", lambda job: PreflightFacts(41, 3, False))
    done, nxt = journal.complete_and_claim(
        "first", JobResult(fiscal_sign="123", document_number=42, shift_number=3), "kkm1",
        lambda job: PreflightFacts(42, 3, False),
    )
    assert done.job_id == "first" and done.state is JobState.DONE
    assert done.document_number == 42 and done.fiscal_sign == "123"
    assert nxt is not None and nxt.job_id == "second" and nxt.state is JobState.IN_PROGRESS
    assert nxt.preflight == PreflightFacts(42, 3, False)
    assert journal.get("first") == done and journal.get("second") == nxt
    done, nxt = journal.complete_and_claim("second", {"fiscal_sign": "9"}, "kkm1", lambda job: None)
    assert done.state is JobState.DONE and nxt is None  # nothing left to claim: the completion still counts


def test_complete_and_claim_writes_nothing_when_the_facts_fail(journal: Journal) -> None:
    journal.accept(new_job(job_id="first"))
    journal.accept(new_job(job_id="second"))
    journal.claim_next("kkm1")

    def broken(job: Job) -> PreflightFacts:
        raise RuntimeError("planner bug")

    with pytest.raises(RuntimeError):
        journal.complete_and_claim("first", {"fiscal_sign": "1"}, "kkm1", broken)
    assert journal.get("first").state is JobState.IN_PROGRESS
    assert journal.get("second").state is JobState.ACCEPTED
    with pytest.raises(InvalidTransition):  # only an in_progress job can be completed
        journal.complete_and_claim("second", {"fiscal_sign": "1"}, "kkm1", lambda job: None)
    assert journal.get("second").state is JobState.ACCEPTED


def test_requeue_clears_attempt_data_but_counts_attempts(journal: Journal) -> None:
    journal.accept(new_job(job_id="j1"))
    journal.claim_next("kkm1")
    journal.record_preflight("j1", PreflightFacts(41, 3, True, shift_open=True, extra={"mode": 1}))
    requeued = journal.requeue("j1")
    assert requeued.state is JobState.ACCEPTED
    assert requeued.preflight is None and requeued.started_at is None
    again = journal.claim_next("kkm1")
    assert again is not None and again.attempts == 2
    failed = journal.fail("j1", "paper_out", "Paper out")
    assert (failed.error_code, failed.error_message) == ("paper_out", "Paper out")
    assert failed.finished_at is not None
    retried = journal.requeue("j1")
    assert retried.error_code is None and retried.finished_at is None


def test_unknown_job_id(journal: Journal) -> None:
    for call in (lambda: journal.get("nope"), lambda: journal.complete("nope", {}),
                 lambda: journal.fail("nope", "c", "m"), lambda: journal.requeue("nope"),
                 lambda: journal.record_preflight("nope", PreflightFacts(1, 1, False))):
        with pytest.raises(JobNotFound):
            call()


# ---------------------------------------------------------------------------------------------- results


def test_result_keeps_money_exact_and_indexes_fiscal_fields(journal: Journal, clock: FakeClock) -> None:
    journal.accept(new_job(job_id="j1"))
    journal.claim_next("kkm1")
    result = JobResult(
        fiscal_sign="2837466123", document_number=118, shift_number=7, receipt_number=12,
        fiscal_datetime=clock.now, total=Decimal("1500.00"), vat={"12": Decimal("160.71")}, offline=True,
        extra={"registration_number": "010101"},
    )
    done = journal.complete("j1", result)
    assert (done.fiscal_sign, done.document_number, done.shift_number) == ("2837466123", 118, 7)
    assert done.result is not None
    assert done.result["total"] == "1500.00"
    assert done.result["vat"] == {"12": "160.71"}
    assert done.result["offline"] is True
    assert done.result["registration_number"] == "010101"
    assert done.result["fiscal_datetime"] == clock.now.isoformat()
    assert done.finished_at == clock.now


def test_result_refuses_floats(journal: Journal) -> None:
    journal.accept(new_job(job_id="j1"))
    journal.claim_next("kkm1")
    with pytest.raises(TypeError):
        journal.complete("j1", {"total": 1500.0})
    assert journal.get("j1").state is JobState.IN_PROGRESS


def test_plain_mapping_result_with_string_numbers_is_indexed(journal: Journal) -> None:
    journal.accept(new_job(job_id="j1"))
    journal.claim_next("kkm1")
    done = journal.complete("j1", {"document_number": "55", "shift_number": 4, "fiscal_sign": 999})
    assert (done.document_number, done.shift_number, done.fiscal_sign) == (55, 4, "999")


# ---------------------------------------------------------------------------------------------- history


def test_history_by_shift_date_state_and_device(journal: Journal, clock: FakeClock) -> None:
    t0 = clock.now
    made: dict[str, Job] = {}
    plan = [  # (job id, device, shift or None if not completed, failed?)
        ("a", "kkm1", 1, False), ("b", "kkm1", 1, False), ("c", "kkm1", 2, False),
        ("d", "kkm2", 1, False), ("e", "kkm1", None, True), ("f", "kkm1", None, False),
    ]
    for job_id, device, shift, failed in plan:
        journal.accept(new_job(job_id=job_id, device_id=device))
        if shift is not None or failed:
            claimed = journal.claim_next(device)
            assert claimed is not None and claimed.job_id == job_id
            if failed:
                journal.fail(job_id, "paper_out", "Paper out")
            else:
                journal.complete(job_id, {"shift_number": shift, "document_number": ord(job_id)})
        made[job_id] = journal.get(job_id)
        clock.advance(hours=1)

    def ids(jobs: list[Job]) -> list[str]:
        return [job.job_id for job in jobs]

    assert ids(journal.list_jobs(device_id="kkm1", shift=1)) == ["b", "a"]  # newest first
    assert ids(journal.list_jobs(shift=1)) == ["d", "b", "a"]
    assert ids(journal.list_jobs(device_id="kkm1", shift=2)) == ["c"]
    # since inclusive, until exclusive
    assert ids(journal.list_jobs(since=t0 + timedelta(hours=1), until=t0 + timedelta(hours=3))) == ["c", "b"]
    assert ids(journal.list_jobs(since=t0 + timedelta(hours=5))) == ["f"]
    assert ids(journal.list_jobs(state=JobState.FAILED)) == ["e"]
    assert ids(journal.list_jobs(state=[JobState.ACCEPTED, JobState.FAILED])) == ["f", "e"]
    assert ids(journal.list_jobs(device_id="kkm2")) == ["d"]
    assert ids(journal.list_jobs(limit=2)) == ["f", "e"]
    assert ids(journal.list_jobs(limit=2, offset=2)) == ["d", "c"]
    assert ids(journal.list_jobs(kind="sell_return")) == []
    assert journal.counts() == {JobState.ACCEPTED: 1, JobState.IN_PROGRESS: 0, JobState.DONE: 4,
                                JobState.FAILED: 1}
    assert journal.counts("kkm2") == {JobState.ACCEPTED: 0, JobState.IN_PROGRESS: 0, JobState.DONE: 1,
                                      JobState.FAILED: 0}
    assert made["a"].created_at == t0


def test_naive_datetimes_are_refused(journal: Journal) -> None:
    from datetime import datetime

    with pytest.raises(ValueError):
        journal.list_jobs(since=datetime(2026, 1, 1))


def test_in_flight_lists_claimed_jobs_per_device(journal: Journal) -> None:
    for job_id, device in [("a", "kkm1"), ("b", "kkm2"), ("c", "kkm1")]:
        journal.accept(new_job(job_id=job_id, device_id=device))
    journal.claim_next("kkm1")
    journal.claim_next("kkm2")
    assert [j.job_id for j in journal.in_flight("kkm1")] == ["a"]
    assert [j.job_id for j in journal.in_flight()] == ["a", "b"]
