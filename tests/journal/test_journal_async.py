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
