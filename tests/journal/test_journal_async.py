"""AsyncJournal: the same operations from asyncio code, run in worker threads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from journal_testutil import new_job

from kkm_bridge.journal import AsyncJournal, DuplicateConflict, JobResult, JobState, PreflightFacts, Priority


async def test_async_round_trip(journal_path: Path) -> None:
    aj = await AsyncJournal.open(journal_path)
    try:
        outcomes = await asyncio.gather(*(aj.accept(new_job(idempotency_key="k")) for _ in range(8)))
        assert sum(o.created for o in outcomes) == 1
        background = await aj.accept(new_job(priority=Priority.BACKGROUND, order_id="web-1"))
        with pytest.raises(DuplicateConflict):
            await aj.accept(new_job({"other": "body"}, idempotency_key="k"))
        job = await aj.claim_next("kkm1")
        assert job is not None and job.job_id == outcomes[0].job.job_id
        await aj.record_preflight(job.job_id, PreflightFacts(10, 2, False))
        assert [j.job_id for j in await aj.in_flight("kkm1")] == [job.job_id]
        done = await aj.complete(job.job_id, JobResult(fiscal_sign="77", document_number=11, shift_number=2))
        assert done.state is JobState.DONE
        assert (await aj.find_by_key("k")) == done
        assert (await aj.find_by_order_id("web-1")) == background.job
        assert [j.job_id for j in await aj.list_jobs(shift=2)] == [job.job_id]
        nxt = await aj.claim_next("kkm1")
        assert nxt is not None
        await aj.fail(nxt.job_id, "paper_out", "Paper out")
        await aj.requeue(nxt.job_id)
        assert (await aj.get(nxt.job_id)).state is JobState.ACCEPTED
        claimed = await aj.claim_and_preflight("kkm1", lambda job: PreflightFacts(11, 2, False))
        assert claimed is not None and claimed.job_id == nxt.job_id
        assert claimed.preflight == PreflightFacts(11, 2, False)
        finished, none_left = await aj.complete_and_claim(claimed.job_id, JobResult(fiscal_sign="78"), "kkm1",
                                                          lambda job: None)
        assert finished.state is JobState.DONE and none_left is None
        assert (await aj.counts())[JobState.DONE] == 2
    finally:
        await aj.close()


@pytest.mark.parametrize("inline", [True, False])
async def test_worker_writes_run_inline_or_in_a_thread(journal_path: Path, inline: bool) -> None:
    """``inline_writes``: the workers' writes (and a non-durable accept) run on the loop's thread; reads and a
    durable accept always go to a thread. ``facts_for`` runs inside the write, so it tells where that was."""
    import threading

    loop_thread = threading.get_ident()
    aj = await AsyncJournal.open(journal_path, inline_writes=inline)
    where: list[bool] = []

    def facts(job: object) -> PreflightFacts:
        where.append(threading.get_ident() == loop_thread)
        return PreflightFacts(1, 1, False)

    try:
        assert aj.inline_writes is inline
        await aj.accept(new_job(idempotency_key="a"), durable=False)
        await aj.accept(new_job(idempotency_key="b"))
        first = await aj.claim_and_preflight("kkm1", facts)
        assert first is not None
        done, second = await aj.complete_and_claim(first.job_id, JobResult(fiscal_sign="1"), "kkm1", facts)
        assert done.state is JobState.DONE and second is not None and second.preflight == PreflightFacts(1, 1, False)
        assert where == [inline, inline]
        # Both records are in the file, whichever thread wrote them.
        assert {j.idempotency_key for j in await aj.list_jobs()} == {"a", "b"}
    finally:
        await aj.close()
