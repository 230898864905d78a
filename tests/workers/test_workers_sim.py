"""The worker against the real ATOL driver and an in-process simulator (``sim://``): sales, priority,
refusals, the queue bound, unreachable devices and a graceful stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("kkm_bridge.driver.atol")

from workers_testutil import check_exactly_once, make_device, receipts_in, sell_body  # noqa: E402

from kkm_bridge.journal import AsyncJournal, JobState, NewJob, Priority  # noqa: E402
from kkm_bridge.workers import (  # noqa: E402
    DeviceManager,
    DeviceUnavailable,
    DeviceWorker,
    QueueFull,
    WorkerConfig,
    WorkerStopped,
)
from simulators.atol import Simulator  # noqa: E402

FAST = WorkerConfig(backoff_initial=0.02, backoff_max=0.2, connect_timeout=2.0)


def sell(key: str, price: str = "500.00", priority: Priority = Priority.INTERACTIVE, **kw: object) -> NewJob:
    return NewJob(kind="sell", device_id="kkm1", request=sell_body(price), idempotency_key=key, priority=priority,
                  **kw)  # type: ignore[arg-type]


async def test_sale_is_done_with_the_devices_fiscal_data(sim: Simulator, sim_uri: str, journal: AsyncJournal) -> None:
    async with DeviceManager(journal, config=FAST) as manager:
        manager.add("kkm1", make_device(sim_uri))
        await manager.start_worker("kkm1")
        sub = await manager.submit(sell("k1", "123.45"))
        job = await sub.handle.wait(30)
    assert job.state is JobState.DONE, (job.error_code, job.error_message)
    assert job.result is not None and job.result["recovered"] is False
    check_exactly_once(sim.documents, [job])
    assert receipts_in(sim.documents)[0].total == 12345


async def test_interactive_jobs_run_before_waiting_background_jobs(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    worker = DeviceWorker("kkm1", make_device(sim_uri), journal, config=FAST)
    await worker.start()
    try:
        async with worker.device_lock:  # hold the device: everything below waits in the queue
            subs = [
                await worker.submit(sell("b1", "1.00", Priority.BACKGROUND)),
                await worker.submit(sell("b2", "2.00", Priority.BACKGROUND)),
                await worker.submit(sell("i1", "3.00", Priority.INTERACTIVE)),
                await worker.submit(sell("i2", "4.00", Priority.INTERACTIVE)),
            ]
            assert [e.job_id for e in worker.queue] == [subs[i].job.job_id for i in (2, 3, 0, 1)]
        jobs = [await s.handle.wait(30) for s in subs]
    finally:
        await worker.stop()
    check_exactly_once(sim.documents, jobs)
    order = [job.document_number for job in jobs]
    assert order[2] < order[3] < order[0] < order[1]  # i1, i2, then b1, b2
    assert [d.total for d in receipts_in(sim.documents)] == [300, 400, 100, 200]


async def test_replay_returns_the_same_job(sim: Simulator, sim_uri: str, journal: AsyncJournal) -> None:
    async with DeviceManager(journal, config=FAST) as manager:
        manager.add("kkm1", make_device(sim_uri))
        await manager.start_worker("kkm1")
        first = await manager.submit(sell("same"))
        done = await first.handle.wait(30)
        again = await manager.submit(sell("same"))
        assert again.replay and again.handle.done and again.handle.result().job_id == done.job_id
        assert (await manager.wait(done.job_id, 1)).fiscal_sign == done.fiscal_sign
    check_exactly_once(sim.documents, [done])


async def test_paper_out_fails_with_the_device_code_and_leaves_no_open_receipt(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    sim.device.paper_present = False
    worker = DeviceWorker("kkm1", make_device(sim_uri), journal, config=FAST)
    await worker.start()
    try:
        job = await (await worker.submit(sell("p1"))).handle.wait(30)
        status = await worker.device_status(10)
    finally:
        await worker.stop()
    assert job.state is JobState.FAILED
    assert job.error_code == "device:no_paper" and job.error_message is not None
    assert job.error_message.startswith("[0x67]")
    assert not status.receipt_open
    check_exactly_once(sim.documents, [job])


async def test_queue_full_and_stopped(sim: Simulator, sim_uri: str, journal: AsyncJournal) -> None:
    worker = DeviceWorker("kkm1", make_device(sim_uri), journal, config=WorkerConfig(queue_size=2))
    await worker.start()
    async with worker.device_lock:
        a = await worker.submit(sell("q1"))
        b = await worker.submit(sell("q2"))
        with pytest.raises(QueueFull) as info:
            await worker.submit(sell("q3"))
        assert info.value.maxsize == 2
        assert await journal.find_by_key("q3") is None  # nothing journalled for a 429
    jobs = [await a.handle.wait(30), await b.handle.wait(30)]
    await worker.stop()
    with pytest.raises(WorkerStopped):
        await worker.submit(sell("q4"))
    check_exactly_once(sim.documents, jobs)


async def test_unreachable_device_fails_waiting_jobs_at_their_deadline(journal: AsyncJournal) -> None:
    worker = DeviceWorker("kkm1", make_device("tcp://127.0.0.1:9"), journal, config=FAST)
    await worker.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=0.5)
        sub = await worker.submit(sell("u1", deadline=deadline))
        job = await sub.handle.wait(30)
        assert job.state is JobState.FAILED and job.error_code == "device_unreachable"
        assert not worker.online and worker.health().last_error
        with pytest.raises(DeviceUnavailable):
            await worker.submit(sell("u2"), require_online=True)
        assert await journal.find_by_key("u2") is None
        with pytest.raises(DeviceUnavailable):
            await worker.device_status(1)
    finally:
        await worker.stop()


async def test_graceful_stop_finishes_the_receipt_in_flight(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    sim.faults.stall_next(0.3, command=0x4A)  # the close command takes a while
    worker = DeviceWorker("kkm1", make_device(sim_uri), journal, config=FAST)
    await worker.start()
    first = await worker.submit(sell("g1"))
    second = await worker.submit(sell("g2", priority=Priority.BACKGROUND))
    while (await journal.get(first.job.job_id)).preflight is None:
        await asyncio.sleep(0.01)
    await worker.stop(grace=30)
    done = await journal.get(first.job.job_id)
    waiting = await journal.get(second.job.job_id)
    assert done.state is JobState.DONE
    assert waiting.state is JobState.ACCEPTED  # runs after the next start
    check_exactly_once(sim.documents, [done])


async def test_manager_maps_devices_and_stops_them_all(sim: Simulator, sim_uri: str, journal: AsyncJournal) -> None:
    from kkm_bridge.workers import UnknownDevice

    manager = DeviceManager(journal, config=FAST)
    manager.add("kkm1", make_device(sim_uri))
    with pytest.raises(ValueError):
        manager.add("kkm1", make_device(sim_uri))
    with pytest.raises(UnknownDevice):
        manager.worker("nope")
    with pytest.raises(UnknownDevice):
        await manager.submit(NewJob(kind="x_report", device_id="nope", request={}))
    await manager.start()
    assert "kkm1" in manager and [w.device_id for w in manager] == ["kkm1"]
    job = await (await manager.submit(NewJob(kind="x_report", device_id="kkm1", request={}))).handle.wait(30)
    assert job.state is JobState.DONE
    assert manager.health()["kkm1"].online
    await manager.stop()
    assert manager.health()["kkm1"].state == "stopped"
    with pytest.raises(WorkerStopped):
        await manager.submit(NewJob(kind="x_report", device_id="kkm1", request={}))


async def test_device_status_while_busy_is_a_timeout_not_unreachable(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    worker = DeviceWorker("kkm1", make_device(sim_uri), journal, config=FAST)
    await worker.start()
    try:
        await (await worker.submit(NewJob(kind="x_report", device_id="kkm1", request={}))).handle.wait(30)
        status = await worker.device_status(10)
        assert status.last_document_number >= 0 and not status.receipt_open
        async with worker.device_lock:  # a job holds the device
            with pytest.raises(TimeoutError):
                await worker.device_status(0.05)
    finally:
        await worker.stop()


async def test_refusal_mid_receipt_cancels_it_and_fails_with_the_code(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    """Paid less than the total: the device refuses the close; the receipt is cancelled, nothing printed,
    and the next job prints normally."""
    worker = DeviceWorker("kkm1", make_device(sim_uri), journal, config=FAST)
    await worker.start()
    try:
        short = NewJob(kind="sell", device_id="kkm1", request=sell_body("500.00", pay="1.00"))
        refused = await (await worker.submit(short)).handle.wait(30)
        status = await worker.device_status(10)
        after = await (await worker.submit(sell("ok1"))).handle.wait(30)
    finally:
        await worker.stop()
    assert refused.state is JobState.FAILED and refused.error_code is not None
    assert refused.error_code.startswith("device:") and refused.error_message is not None
    assert refused.error_message.startswith("[0x")
    assert not status.receipt_open
    assert after.state is JobState.DONE
    check_exactly_once(sim.documents, [refused, after])


async def test_back_to_back_jobs_record_done_with_the_next_claim(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    """With jobs waiting, a job's ``done`` is written in the same journal transaction as the next job's claim
    and pre-flight facts; the last one on its own. Every job ends done with its own document."""
    calls: list[str] = []
    for name in ("claim_next", "claim_and_preflight", "complete_and_claim", "complete", "record_preflight"):
        method = getattr(journal.sync, name)

        def spy(*args: object, _name: str = name, _method: object = method) -> object:
            calls.append(_name)
            return _method(*args)  # type: ignore[operator]

        setattr(journal.sync, name, spy)
    worker = DeviceWorker("kkm1", make_device(sim_uri), journal, config=FAST)
    await worker.start()
    try:
        async with worker.device_lock:  # hold the device: all three wait in the queue
            subs = [await worker.submit(sell(f"k{i}", f"{i}.00")) for i in (1, 2, 3)]
        jobs = [await s.handle.wait(30) for s in subs]
    finally:
        await worker.stop()
    check_exactly_once(sim.documents, jobs)
    assert all(job.result is not None and job.result["recovered"] is False for job in jobs)
    assert all(job.preflight is not None for job in jobs)
    # Each job's facts are the device's state after the previous job's document.
    assert [job.preflight.last_document_number for job in jobs[1:]] == [job.document_number for job in jobs[:-1]]
    work = [c for c in calls if c != "claim_next"]  # (plain claims when the queue is empty)
    assert work == ["claim_and_preflight", "complete_and_claim", "complete_and_claim", "complete"]


async def test_a_job_waiting_for_the_next_claim_is_recorded_when_the_link_drops(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    """The status before the second job fails: the first job's ``done`` is written at once (not left to
    recovery), and the second job runs after the reconnection."""
    from kkm_bridge.driver.errors import LinkTimeout

    device = make_device(sim_uri)
    status = device.status
    printed = {"receipts": 0}

    async def flaky_status() -> object:
        if len(receipts_in(sim.documents)) == 1 and not printed["receipts"]:
            printed["receipts"] = 1
            raise LinkTimeout("no answer (test)")
        return await status()

    device.status = flaky_status  # type: ignore[method-assign]
    worker = DeviceWorker("kkm1", device, journal, config=FAST)
    await worker.start()
    try:
        async with worker.device_lock:
            subs = [await worker.submit(sell(f"k{i}", f"{i}.00")) for i in (1, 2)]
        jobs = [await s.handle.wait(30) for s in subs]
    finally:
        await worker.stop()
    assert printed["receipts"] == 1  # the failure did happen between the two jobs
    check_exactly_once(sim.documents, jobs)
    assert [job.result is not None and job.result["recovered"] for job in jobs] == [False, False]
