"""Link resilience: with the simulator corrupting, dropping and delaying frames, every operation
still succeeds exactly once (one document in fiscal memory per operation, matching the driver's)."""

from __future__ import annotations

import pytest
from driver_testutil import Rig
from driver_testutil import assert_matches, receipt

from kkm_bridge.driver.atol import AtolDriver
from kkm_bridge.driver.errors import LinkError


async def _sales(rig: Rig, driver: AtolDriver, count: int) -> None:
    for _ in range(count):
        before = len(rig.sim.documents)
        result = await driver.fiscalize(receipt())
        new = rig.sim.documents[before:]
        assert [d.kind for d in new] == (["shift_open", "receipt"] if result.shift_opened else ["receipt"])
        assert_matches(rig.sim, result.document)


@pytest.mark.parametrize("rate", [0.004, 0.01])
async def test_corrupt_bytes_from_the_device(rig: Rig, driver: AtolDriver, rate: float) -> None:
    rig.sim.faults.corrupt_rate = rate
    await _sales(rig, driver, 4)
    rig.sim.faults.corrupt_rate = 0.0
    assert "corrupt_rate" in rig.sim.faults.triggered
    assert driver.link.stats.corrupt_in > 0


async def test_corrupt_bytes_to_the_device(rig: Rig, driver: AtolDriver) -> None:
    rig.sim.faults.corrupt_in_rate = 0.002
    await _sales(rig, driver, 4)
    rig.sim.faults.corrupt_in_rate = 0.0
    assert rig.sim.link.bad_frames_in > 0
    assert driver.link.stats.resend_requests_in + driver.link.stats.retransmits > 0


async def test_dropped_frames_at_a_rate(rig: Rig, driver: AtolDriver) -> None:
    rig.sim.faults.drop_rate = 0.05
    await _sales(rig, driver, 4)
    rig.sim.faults.drop_rate = 0.0
    assert "drop_rate" in rig.sim.faults.triggered


@pytest.mark.parametrize("command", [0x4A, 0xE6, 0x92, 0x9A])
async def test_one_dropped_result(rig: Rig, driver: AtolDriver, command: int) -> None:
    rig.sim.faults.drop_next(command=command)
    await _sales(rig, driver, 1)
    assert any(t.startswith("drop") for t in rig.sim.faults.triggered)
    assert driver.link.stats.polls + driver.link.stats.retransmits > 0


async def test_one_corrupted_close_reply(rig: Rig, driver: AtolDriver) -> None:
    rig.sim.faults.corrupt_next(command=0x4A)
    await _sales(rig, driver, 2)
    assert any(t.startswith("corrupt") for t in rig.sim.faults.triggered)


async def test_a_stalled_device_is_waited_for(rig: Rig, driver: AtolDriver) -> None:
    rig.sim.faults.stall_next(0.4, command=0xE6)
    await _sales(rig, driver, 1)
    assert any(t.startswith("stall") for t in rig.sim.faults.triggered)


async def test_dropped_connection_is_a_link_error_and_nothing_is_doubled(rig: Rig, driver: AtolDriver) -> None:
    if rig.uri.startswith("serial"):
        pytest.skip("a pty cannot be unplugged; the TCP form covers the driver's side")
    await _sales(rig, driver, 1)
    rig.sim.faults.disconnect_next(command=0x4A, seconds=0.0)
    with pytest.raises(LinkError):
        await driver.fiscalize(receipt())
    await driver.close()
    await driver.connect()
    status = await driver.status()
    assert not status.receipt_open
    last = await driver.last_document()
    assert last is not None and last.number == status.last_document_number == len(rig.sim.documents) == 3
    assert_matches(rig.sim, last)


async def test_a_device_silent_longer_than_the_retransmissions_is_waited_for_within_t5(
    rig: Rig, driver: AtolDriver
) -> None:
    """1.5 s of silence at the close: far beyond 8 resends x 0.1 s, well within the close's T5 (20 s)."""
    rig.sim.faults.stall_next(1.5, command=0x4A)
    await _sales(rig, driver, 1)
    assert driver.link.stats.polls > 0


@pytest.mark.parametrize(
    ("point", "committed"),
    [("before_close_receipt_commit", False), ("after_close_receipt_before_reply", True), ("mid_close_receipt_reply", True)],
)
async def test_power_cut_at_the_close_is_a_link_error_and_the_device_tells_the_truth(
    rig: Rig, driver: AtolDriver, point: str, committed: bool
) -> None:
    """The driver cannot know whether the receipt was committed: it raises a LinkError (TaskLost or
    timeout), never a refusal, and afterwards the device's status and last document say what happened
    - which is what the workers' exactly-once recovery decides from."""
    await _sales(rig, driver, 1)
    rig.sim.faults.power_cut(point)
    with pytest.raises(LinkError):
        await driver.fiscalize(receipt())
    status = await driver.status()
    assert not status.receipt_open
    assert status.last_document_number == len(rig.sim.documents) == (3 if committed else 2)
    last = await driver.last_document()
    assert last is not None
    assert_matches(rig.sim, last)
