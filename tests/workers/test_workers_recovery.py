"""Recovery: faults injected into the simulator while a receipt is in flight, and in-flight jobs found in
the journal at startup. After each: exactly one receipt per done job in fiscal memory, none for failed
jobs, and each job's stored result equals its document (``check_exactly_once``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("kkm_bridge.driver.atol")

from workers_testutil import check_exactly_once, make_device, receipts_in, sell_body  # noqa: E402

from kkm_bridge.driver.api import DocumentKind  # noqa: E402
from kkm_bridge.journal import AsyncJournal, Job, JobState, NewJob, Priority  # noqa: E402
from kkm_bridge.model import BuildOptions, build_receipt  # noqa: E402
from kkm_bridge.workers import DeviceWorker, Preflight, WorkerConfig  # noqa: E402
from simulators.atol import Simulator  # noqa: E402

FAST = WorkerConfig(backoff_initial=0.02, backoff_max=0.2, connect_timeout=2.0)
CLOSE_RECEIPT, REGISTER_ITEM = 0x4A, 0xE6


def sell(key: str, price: str = "500.00") -> NewJob:
    return NewJob(kind="sell", device_id="kkm1", request=sell_body(price), idempotency_key=key,
                  priority=Priority.INTERACTIVE)


async def run_jobs(sim_uri: str, journal: AsyncJournal, jobs: list[NewJob], config: WorkerConfig = FAST,
                   **driver: Any) -> list[Job]:
    worker = DeviceWorker("kkm1", make_device(sim_uri, **driver), journal, config=config)
    await worker.start()
    try:
        subs = [await worker.submit(job) for job in jobs]
        return [await sub.handle.wait(60) for sub in subs]
    finally:
        await worker.stop()


async def test_power_cut_after_close_receipt_before_reply_is_recovered_not_reprinted(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    sim.faults.power_cut("after_close_receipt_before_reply")
    [job] = await run_jobs(sim_uri, journal, [sell("pc1", "777.00")])
    assert sim.power_cuts == 1
    assert job.state is JobState.DONE and job.result is not None
    assert job.result["recovered"] is True  # the data came from fiscal memory, not from the lost reply
    assert job.attempts == 1
    check_exactly_once(sim.documents, [job])


async def test_power_cut_before_the_close_is_committed_prints_once_on_retry(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    sim.faults.power_cut("before_close_receipt_commit")
    [job] = await run_jobs(sim_uri, journal, [sell("pc2")])
    assert sim.power_cuts == 1
    assert job.state is JobState.DONE and job.attempts == 2
    assert job.result is not None and job.result["recovered"] is False
    check_exactly_once(sim.documents, [job])


async def test_link_drop_mid_receipt_cancels_the_open_receipt_then_retries(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    sim.faults.disconnect_next(command=REGISTER_ITEM, seconds=0.05)
    [job] = await run_jobs(sim_uri, journal, [sell("ld1")])
    assert sim.disconnects == 1
    assert job.state is JobState.DONE and job.attempts == 2
    check_exactly_once(sim.documents, [job])


async def test_link_drop_on_the_close_reply(sim: Simulator, sim_uri: str, journal: AsyncJournal) -> None:
    sim.faults.disconnect_next(command=CLOSE_RECEIPT, seconds=0.05)
    [job] = await run_jobs(sim_uri, journal, [sell("ld2")])
    assert job.state is JobState.DONE
    check_exactly_once(sim.documents, [job])


async def test_corrupted_frames_within_the_links_retries(sim: Simulator, sim_uri: str, journal: AsyncJournal) -> None:
    sim.faults.corrupt_next(command=CLOSE_RECEIPT, count=2)
    sim.faults.corrupt_next(command=REGISTER_ITEM, count=2)
    jobs = await run_jobs(sim_uri, journal, [sell("cf1", "10.00"), sell("cf2", "20.00")])
    triggered = " ".join(sim.faults.triggered)
    assert "corrupt cmd=4A" in triggered and "corrupt cmd=E6" in triggered
    assert all(job.state is JobState.DONE for job in jobs)
    check_exactly_once(sim.documents, jobs)


async def test_frames_corrupted_from_the_close_on_until_the_link_gives_up(
    sim: Simulator, sim_uri: str, journal: AsyncJournal, caplog: pytest.LogCaptureFixture
) -> None:
    """From the moment the receipt is committed every byte the device sends is garbage: the driver gives
    up with the outcome unknown and the worker goes offline. Once the line is clean again the worker asks
    the device, finds the receipt and completes the job from fiscal memory (no second receipt)."""
    def garble_after_receipt(printed: Any) -> None:
        if printed.kind == "receipt":
            sim.faults.corrupt_rate = 1.0

    sim.device.on_print = garble_after_receipt
    caplog.set_level("INFO", logger="kkm_bridge.workers")
    worker = DeviceWorker("kkm1", make_device(sim_uri), journal, config=FAST)
    await worker.start()
    try:
        sub = await worker.submit(sell("cf3", "30.00"))
        while worker.online:  # the link gave up on the garbled replies
            await asyncio.sleep(0.01)
        assert (await journal.get(sub.job.job_id)).state is JobState.IN_PROGRESS
        sim.device.on_print = None
        sim.faults.corrupt_rate = 0.0
        job = await sub.handle.wait(60)
    finally:
        await worker.stop()
    assert "outcome unknown" in caplog.text and "recovery of job" in caplog.text
    assert job.state is JobState.DONE and job.result is not None and job.result["recovered"] is True
    check_exactly_once(sim.documents, [job])


async def test_random_corruption_and_drops_over_several_receipts(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    sim.faults.corrupt_rate = 0.002
    sim.faults.drop_rate = 0.02
    jobs = await run_jobs(sim_uri, journal, [sell(f"rc{i}", f"{i + 1}.00") for i in range(3)])
    check_exactly_once(sim.documents, jobs)
    assert sum(job.state is JobState.DONE for job in jobs) == len(jobs)


async def test_every_attempt_cut_off_fails_only_after_nothing_was_printed(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    for _ in range(2):
        sim.faults.power_cut("before_close_receipt_commit")
    config = WorkerConfig(backoff_initial=0.02, backoff_max=0.2, max_attempts=2)
    [job] = await run_jobs(sim_uri, journal, [sell("ex1")], config)
    assert job.state is JobState.FAILED and job.error_code == "retries_exhausted"
    check_exactly_once(sim.documents, [job])


# --------------------------------------------------------------------------- startup recovery


async def crashed_job(sim_uri: str, journal: AsyncJournal, key: str, price: str, *, print_it: str) -> Job:
    """What a daemon killed mid-receipt leaves behind: an in_progress job with pre-flight facts, and on
    the device either a printed receipt (``"closed"``), an open one (``"open"``) or nothing (``"none"``)."""
    accepted = (await journal.accept(sell(key, price))).job
    job = await journal.claim_next("kkm1")
    assert job is not None and job.job_id == accepted.job_id
    device = make_device(sim_uri)
    await device.connect()
    try:
        status = await device.status()
        receipt = build_receipt(sell_body(price), BuildOptions()).receipt
        assert receipt is not None
        preflight = Preflight(status.last_document_number, status.shift_number, status.receipt_open,
                              expected_kind=DocumentKind.SELL, expected_total=receipt.total)
        await journal.record_preflight(job.job_id, preflight.to_facts())
        if print_it == "closed":
            await device.fiscalize(receipt)
        elif print_it == "open":
            from protocols.atol import commands as cmd
            from simulators.atol.testing import InProcessHost

            await device.close()
            host = InProcessHost(sim_of(sim_uri))
            host.call_ok(cmd.EnterMode(1, 30))
            host.call_ok(cmd.OpenShift(0)) if not status.shift_state == "open" else None
            host.call_ok(cmd.OpenReceipt(0, cmd.ReceiptType.SELL))
    finally:
        await device.close()
    return await journal.get(job.job_id)


def sim_of(uri: str) -> Simulator:
    from simulators.atol.sim_transport import get_simulator

    found = get_simulator(uri.removeprefix("sim://"))
    assert found is not None
    return found


async def test_startup_finds_the_printed_receipt_and_completes_the_job(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    crashed = await crashed_job(sim_uri, journal, "st1", "42.00", print_it="closed")
    assert crashed.state is JobState.IN_PROGRESS and len(receipts_in(sim.documents)) == 1
    [job] = await run_jobs(sim_uri, journal, [sell("st1", "42.00")])  # the client retries: a replay
    assert job.job_id == crashed.job_id and job.state is JobState.DONE
    assert job.result is not None and job.result["recovered"] is True
    check_exactly_once(sim.documents, [job])


async def test_startup_cancels_an_open_receipt_then_prints_once(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    crashed = await crashed_job(sim_uri, journal, "st2", "43.00", print_it="open")
    assert crashed.state is JobState.IN_PROGRESS and not receipts_in(sim.documents)
    [job] = await run_jobs(sim_uri, journal, [sell("st2", "43.00")])
    assert job.state is JobState.DONE and job.attempts == 2
    check_exactly_once(sim.documents, [job])


async def test_startup_retries_a_job_that_never_reached_the_device(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    await crashed_job(sim_uri, journal, "st3", "44.00", print_it="none")
    accepted = (await journal.accept(sell("st4", "45.00"))).job
    await journal.claim_next("kkm1")  # claimed, killed before its pre-flight facts were written
    [job3, job4] = await run_jobs(sim_uri, journal, [sell("st3", "44.00"), sell("st4", "45.00")])
    assert job4.job_id == accepted.job_id
    assert job3.state is JobState.DONE and job4.state is JobState.DONE
    check_exactly_once(sim.documents, [job3, job4])


async def test_contradictory_facts_park_the_job_and_the_queue_goes_on(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    # Pre-flight says the job is 46.00, but the device's next receipt is 99.00: not ours, not nothing.
    crashed = await crashed_job(sim_uri, journal, "st5", "46.00", print_it="none")
    device = make_device(sim_uri)
    await device.connect()
    other = build_receipt(sell_body("99.00"), BuildOptions()).receipt
    assert other is not None
    await device.fiscalize(other)
    await device.close()
    worker = DeviceWorker("kkm1", make_device(sim_uri), journal, config=FAST)
    await worker.start()
    try:
        later = await (await worker.submit(sell("st6", "47.00"))).handle.wait(60)
        assert later.state is JobState.DONE
        assert crashed.job_id in worker.health().parked_jobs
    finally:
        await worker.stop()
    parked = await journal.get(crashed.job_id)
    assert parked.state is JobState.IN_PROGRESS  # never failed, never printed again
    assert [d.total for d in receipts_in(sim.documents)] == [9900, 4700]


# --------------------------------------------------------------------------- chaos


POWER_CUTS = ("after_close_receipt_before_reply", "before_close_receipt_commit", "mid_close_receipt_reply",
              "before_close_receipt")


@pytest.mark.parametrize("count", [pytest.param(4, id="short"),
                                   pytest.param(60, id="soak", marks=pytest.mark.slow)])
async def test_chaos_mixed_faults_and_priorities(
    sim: Simulator, sim_uri: str, journal: AsyncJournal, count: int
) -> None:
    """Power cuts at every close-receipt point, link drops, dropped and corrupted frames, interactive and
    background jobs mixed: every job ends done, and fiscal memory holds exactly one receipt per job."""
    sim.faults.drop_rate = 0.01
    sim.faults.corrupt_rate = 0.0005
    for index in range(count // 2):
        sim.faults.power_cut(POWER_CUTS[index % len(POWER_CUTS)], skip=index)
    sim.faults.disconnect_next(command=REGISTER_ITEM, seconds=0.05, skip=1)
    jobs = [
        NewJob(kind="sell", device_id="kkm1", request=sell_body(f"{index + 1}.00"), idempotency_key=f"chaos{index}",
               priority=Priority.INTERACTIVE if index % 3 else Priority.BACKGROUND)
        for index in range(count)
    ]
    config = WorkerConfig(backoff_initial=0.02, backoff_max=0.2, max_attempts=10)
    done = await run_jobs(sim_uri, journal, jobs, config)
    assert [job.state for job in done] == [JobState.DONE] * count, [(j.error_code, j.error_message) for j in done]
    check_exactly_once(sim.documents, done)
    assert sim.power_cuts >= 1


# --------------------------------------------------------------------------- other fiscal documents


@pytest.mark.parametrize(
    ("kind", "body", "point", "sim_kind"),
    [
        ("cash_in", {"amount": "1500.00"}, "after_cash_in_before_reply", "cash_in"),
        ("shift_close", {}, "after_z_report_before_reply", "shift_close"),
    ],
)
async def test_cash_in_and_z_report_cut_off_after_commit_are_recovered_once(
    sim: Simulator, sim_uri: str, journal: AsyncJournal, kind: str, body: dict[str, Any], point: str, sim_kind: str
) -> None:
    jobs = [NewJob(kind=kind, device_id="kkm1", request=body, idempotency_key="doc1")]
    if kind == "shift_close":  # a shift must be open to close it
        jobs.insert(0, NewJob(kind="shift_open", device_id="kkm1", request={}, idempotency_key="open1"))
    sim.faults.power_cut(point)
    done = await run_jobs(sim_uri, journal, jobs)
    assert all(job.state is JobState.DONE for job in done), [(j.error_code, j.error_message) for j in done]
    job = done[-1]
    assert job.result is not None and job.result["recovered"] is True
    documents = [d for d in sim.documents if d.kind == sim_kind]
    assert len(documents) == 1 and sim.power_cuts == 1
    assert job.document_number == documents[0].number and job.fiscal_sign == documents[0].fiscal_sign
    if kind == "cash_in":
        assert job.result["total_minor"] == documents[0].total == 150000


async def test_x_report_cut_off_fails_as_interrupted_not_reprinted(
    sim: Simulator, sim_uri: str, journal: AsyncJournal
) -> None:
    sim.faults.power_cut("after_execute_before_reply", command=0x67)
    [job] = await run_jobs(sim_uri, journal, [NewJob(kind="x_report", device_id="kkm1", request={})])
    assert sim.power_cuts == 1
    assert job.state is JobState.FAILED and job.error_code == "interrupted"
    assert not receipts_in(sim.documents)
