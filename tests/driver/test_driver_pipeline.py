"""Pipelining details, in-process through `sim://` (the factory path): buffer overflow, window sizes,
and the wire exchange of one receipt (queued before any result is taken)."""

from __future__ import annotations

import pytest
from driver_testutil import FAST, KZ_TAX_TABLE, VAT16, assert_matches, receipt

from kkm_bridge.driver.factory import open_device
from kkm_bridge.model.receipt import Item, Payment, PaymentType
from simulators.atol import DeviceConfig, ManualClock, Simulator
from simulators.atol.sim_transport import register_simulator, unregister_simulator


@pytest.fixture
def sim() -> Simulator:
    return Simulator(DeviceConfig(sign_key_seed=5, task_buffer_size=4), clock=ManualClock(), tax_table=KZ_TAX_TABLE)


def _many(n: int) -> tuple[Item, ...]:
    return tuple(Item(f"item {i}", 1000 + i, 1000, VAT16) for i in range(n))


@pytest.mark.parametrize("window", [1, 3, 16])
async def test_receipts_larger_than_the_task_buffer(sim: Simulator, window: int) -> None:
    """The device holds 4 tasks; a 30-item receipt goes through with any window, overflow included."""
    register_simulator("pipe", sim)
    try:
        driver = await open_device("sim://pipe", tax_table=KZ_TAX_TABLE, timeouts=FAST, window=window)
        try:
            lines = _many(30)
            total = sum(i.amount for i in lines)
            result = await driver.fiscalize(receipt(lines=lines, payments=(Payment(PaymentType.CASH, total),)))
            assert_matches(sim, result.document, total=total)
            stored = sim.documents[-1]
            assert [line["name"] for line in stored.lines] == [i.name for i in lines]  # in order
            assert (driver.link.stats.overflows > 0) == (window > 4)
        finally:
            await driver.close()
    finally:
        unregister_simulator("pipe")


async def test_a_receipt_is_queued_before_its_results_are_taken() -> None:
    """With a wide window every ADD of the receipt (up to the close) is on the wire before the first
    result is taken: the device never waits for the host between commands. The close waits for every
    result (barrier); the finished tasks are then released together, by one ABORT, not ACK by ACK."""
    sim = Simulator(DeviceConfig(sign_key_seed=5), clock=ManualClock(), tax_table=KZ_TAX_TABLE)
    register_simulator("order", sim)
    try:
        driver = await open_device("sim://order", tax_table=KZ_TAX_TABLE, timeouts=FAST, window=32)
        try:
            await driver.open_shift()
            sent: list[bytes] = []
            results_when_closing: list[int] = []
            write = driver.link.transport.write

            async def spy(data: bytes, deadline: float | None = None) -> None:
                sent.append(bytes(data))
                if len(data) > 9 and data[4] == 0xC1 and data[9] == 0x4A:
                    results_when_closing.append(len(driver.link._results))
                await write(data, deadline)

            driver.link.transport.write = spy  # type: ignore[method-assign]
            await driver.fiscalize(receipt(lines=_many(8), payments=(Payment(PaymentType.CARD, 8028),)))
        finally:
            await driver.close()
    finally:
        unregister_simulator("order")
    kinds = [frame[4] for frame in sent]  # v3 frame: FE len len id <C1/C2/...>
    commands = [frame[9] if frame[4] == 0xC1 and len(frame) > 9 else None for frame in sent]  # C1 fl tid pw pw code
    open_at = commands.index(0x92)
    close_at = commands.index(0x4A)
    assert all(k == 0xC1 for k in kinds[open_at:open_at + 9])  # open + 8 items back to back
    assert close_at > open_at + 8
    assert results_when_closing == [9]  # the close waited for every result (barrier)
    assert 0xC2 not in kinds[open_at:close_at]  # no ACK one by one ...
    assert kinds[close_at + 1] == 0xC4  # ... one ABORT releases the finished receipt's tasks
    assert not sim.task_buffer.tasks


async def test_connect_aborts_tasks_left_in_the_buffer() -> None:
    from protocols.atol import commands as cmd
    from simulators.atol.testing import HostCodec

    sim = Simulator(DeviceConfig(sign_key_seed=5), clock=ManualClock(), tax_table=KZ_TAX_TABLE)
    codec = HostCodec()
    frame, _, _ = codec.add_frame(cmd.DeviceState())  # a previous session's task, never ACKed
    sim.feed(frame)
    assert sim.task_buffer.tasks
    register_simulator("abort", sim)
    try:
        driver = await open_device("sim://abort", tax_table=KZ_TAX_TABLE, timeouts=FAST)
        try:
            assert not sim.task_buffer.tasks
            await driver.status()
            assert not sim.task_buffer.tasks  # every result taken is ACKed
        finally:
            await driver.close()
    finally:
        unregister_simulator("abort")


async def test_busy_device_queues_the_pipeline() -> None:
    """A device that stays busy while it executes (REQ answers A2, later ADDs wait as A1)."""
    from simulators.atol import WireTiming

    sim = Simulator(DeviceConfig(sign_key_seed=5), clock=ManualClock(), tax_table=KZ_TAX_TABLE,
                    timing=WireTiming(command_seconds=0.005, busy_device=True))
    register_simulator("busy", sim)
    try:
        driver = await open_device("sim://busy", tax_table=KZ_TAX_TABLE, timeouts=FAST)
        try:
            for _ in range(2):
                sale = receipt()
                result = await driver.fiscalize(sale)
                assert_matches(sim, result.document, total=sale.total)
        finally:
            await driver.close()
    finally:
        unregister_simulator("busy")
    assert [d.kind for d in sim.documents] == ["shift_open", "receipt", "receipt"]


def test_vat_codes_read_as_ffd_codes_or_tax_indexes() -> None:
    from kkm_bridge.driver.documents import vat_label
    from protocols.atol.tax_table import DEFAULT_TAX_TABLE

    assert [vat_label(code, KZ_TAX_TABLE) for code in (1, 2, 5, 6)] == ["16", "12", "0", "none"]
    assert [vat_label(code, DEFAULT_TAX_TABLE) for code in (1, 3, 5, 6)] == ["20", "20/120", "0", "none"]
