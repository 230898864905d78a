"""``JobQueue`` and ``JobHandle``: ordering (interactive first, then journal order), the bound, handles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from kkm_bridge.journal import Job, JobState, Priority
from kkm_bridge.workers import JobHandle, JobQueue, QueueFull, QueuedJob

I, B = Priority.INTERACTIVE, Priority.BACKGROUND


def entry(job_id: str, priority: Priority, seq: int) -> QueuedJob:
    return QueuedJob(job_id, priority, seq)


def test_interactive_before_background_then_fifo() -> None:
    q = JobQueue(10)
    for e in [entry("b1", B, 1), entry("i2", I, 2), entry("b3", B, 3), entry("i4", I, 4)]:
        q.put(e)
    assert [e.job_id for e in q] == ["i2", "i4", "b1", "b3"]
    assert q.position("i2") == 0 and q.position("b3") == 3 and q.position("nope") is None
    assert [q.pop().job_id for _ in range(4)] == ["i2", "i4", "b1", "b3"]  # type: ignore[union-attr]
    assert q.pop() is None


def test_remove_by_id_and_lazy_heap() -> None:
    q = JobQueue(10)
    for i in range(5):
        q.put(entry(f"j{i}", B, i))
    assert q.remove("j0") is not None and q.remove("j0") is None
    assert q.peek() is not None and q.peek().job_id == "j1"  # type: ignore[union-attr]
    assert len(q) == 4 and "j0" not in q and "j1" in q


def test_bound_and_reservations() -> None:
    q = JobQueue(2)
    q.put(entry("a", B, 1))
    q.reserve()
    assert q.free == 0
    with pytest.raises(QueueFull) as info:
        q.reserve()
    assert info.value.maxsize == 2
    with pytest.raises(QueueFull):
        q.put(entry("c", B, 3))
    q.put(entry("b", B, 2), reserved=True)  # the reserved place is used
    assert len(q) == 2 and q.free == 0
    q.put(entry("recovered", I, 0), force=True)  # startup: journalled jobs always fit
    assert len(q) == 3
    assert q.put(entry("a", I, 99)).priority is B  # same id: the queued entry stays
    q.remove("a")
    q.remove("b")
    q.reserve()
    q.release()
    assert q.free == 1


def test_bad_size() -> None:
    with pytest.raises(ValueError):
        JobQueue(0)


async def test_wait_not_empty_wakes_up() -> None:
    q = JobQueue(3)
    waiter = asyncio.create_task(q.wait_not_empty())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.put(entry("x", I, 1))
    await asyncio.wait_for(waiter, 5)


def _job(job_id: str, state: JobState) -> Job:
    now = datetime.now(UTC)
    return Job(job_id=job_id, seq=1, kind="sell", device_id="d", scope="d", priority=I, idempotency_key=None,
               order_id=None, body_hash="", request={}, state=state, attempts=1, deadline=None, preflight=None,
               preflight_at=None, result=None, error_code=None, error_message=None, shift_number=None,
               document_number=None, fiscal_sign=None, created_at=now, updated_at=now, started_at=None,
               finished_at=None)


async def test_handle_timeout_does_not_cancel_the_job_and_resolves_once() -> None:
    handle = JobHandle("j")
    with pytest.raises(TimeoutError):
        await handle.wait(0.01)
    assert not handle.done
    handle._resolve(_job("j", JobState.DONE))
    handle._resolve(_job("j", JobState.FAILED))  # ignored: a job ends once
    assert (await handle.wait(1)).state is JobState.DONE
    assert handle.result().state is JobState.DONE
    assert "done" in repr(handle)
