"""``Journal.resolve_by_operator``: a person's decision about a job recovery left in_progress, with its note."""

from __future__ import annotations

import pytest
from journal_testutil import FakeClock, new_job

from kkm_bridge.journal import InvalidTransition, Journal, JobNotFound, JobState, PreflightFacts


def _parked(journal: Journal) -> str:
    job = journal.accept(new_job(idempotency_key="k")).job
    journal.claim_and_preflight("kkm1", lambda _: PreflightFacts(10, 1, False))
    return job.job_id


def test_done_and_its_note_are_one_decision(journal: Journal, clock: FakeClock) -> None:
    job_id = _parked(journal)
    clock.advance(minutes=5)
    done = journal.resolve_by_operator(job_id, operator="ops", note="on the tape", document_number=11)
    assert done == journal.get(job_id)
    assert done.state == JobState.DONE and done.document_number == 11 and done.finished_at == clock.now
    [note] = journal.notes(job_id)
    assert note.created_at == clock.now and (note.author, note.action) == ("ops", "resolved_done")


@pytest.mark.parametrize("kwargs", [
    {},  # no decision
    {"document_number": 11, "failed": True},  # two
    {"document_number": 10},  # the pre-flight last document: not the job's
    {"document_number": 0},
    {"failed": True, "note": "   "},  # no reason
])
def test_meaningless_decisions_are_refused_and_change_nothing(journal: Journal, kwargs: dict[str, object]) -> None:
    job_id = _parked(journal)
    args: dict[str, object] = {"note": "why", **kwargs}
    with pytest.raises(ValueError):
        journal.resolve_by_operator(job_id, operator="ops", **args)  # type: ignore[arg-type]
    assert journal.get(job_id).state == JobState.IN_PROGRESS and journal.notes(job_id) == []


def test_only_jobs_in_progress(journal: Journal) -> None:
    queued = journal.accept(new_job(idempotency_key="q")).job
    with pytest.raises(InvalidTransition):
        journal.resolve_by_operator(queued.job_id, operator="ops", note="x", failed=True)
    with pytest.raises(JobNotFound):
        journal.resolve_by_operator("nope", operator="ops", note="x", failed=True)
    with pytest.raises(JobNotFound):
        journal.notes("nope")
