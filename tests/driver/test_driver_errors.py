"""Every device refusal surfaces as its driver class with the device's code; a failed pipelined
receipt is cancelled on the device, names the failed step, and leaves nothing in fiscal memory."""

from __future__ import annotations

import pytest
from driver_testutil import Rig
from driver_testutil import VAT16, receipt

from kkm_bridge.driver import errors as de
from kkm_bridge.driver.atol import AtolDriver
from kkm_bridge.driver.shift_policy import ShiftPolicy
from kkm_bridge.model.receipt import Item, Payment, PaymentType
from protocols.atol import commands as cmd
from protocols.atol import errors_table as et


def test_code_table_is_data_and_complete_for_the_named_classes() -> None:
    for code, cls in de.DEVICE_ERROR_CLASSES.items():
        error = de.refusal_for(code, 3)
        assert type(error) is cls and error.code == code and error.ext == 3
        assert error.name and error.message
    assert type(de.refusal_for(0x42)) is de.DeviceRefused
    assert type(de.refusal_for(et.COVER_OPEN_ERROR, cover_open=True)) is de.CoverOpen
    assert issubclass(de.DeviceUnreachable, de.LinkError) and not issubclass(de.DeviceRefused, de.LinkError)


async def _expect(error: type[de.DeviceRefused], code: int, coro: object) -> de.DeviceRefused:
    with pytest.raises(error) as caught:
        await coro  # type: ignore[misc]
    assert caught.value.code == code
    assert f"{code:#04x}" in str(caught.value)
    return caught.value


async def test_paper_out(rig: Rig, driver: AtolDriver) -> None:
    await driver.open_shift()
    rig.sim.device.paper_present = False
    refusal = await _expect(de.PaperOut, et.NO_PAPER, driver.fiscalize(receipt()))
    assert refusal.step is not None and refusal.step.name == "open receipt"
    assert [d.kind for d in rig.sim.documents] == ["shift_open"]
    assert not (await driver.status()).paper_present
    rig.sim.device.load_paper()
    assert (await driver.fiscalize(receipt())).document.number == 2


async def test_paper_runs_out_mid_receipt_then_cancel(rig: Rig, driver: AtolDriver) -> None:
    await driver.open_shift()
    rig.sim.device.paper_present = True
    rig.sim.faults.paper_out_after = None
    rig.sim.device.paper_left = 1  # the next printed document empties the roll
    await driver.x_report()
    await _expect(de.PaperOut, et.NO_PAPER, driver.fiscalize(receipt()))
    assert len(rig.sim.documents) == 1


async def test_cover_open(rig: Rig, driver: AtolDriver) -> None:
    rig.sim.device.cover_open = True
    refusal = await _expect(de.CoverOpen, et.COVER_OPEN_ERROR, driver.open_shift())
    assert isinstance(refusal, de.MechanicalError)
    assert (await driver.status()).cover_open
    assert rig.sim.documents == []


async def test_wrong_mode_password(rig: Rig) -> None:
    driver = rig.driver(password=77)
    await driver.connect()
    try:
        refusal = await _expect(de.WrongPassword, et.WRONG_PASSWORD, driver.fiscalize(receipt()))
    finally:
        await driver.close()
    assert refusal.step is not None and refusal.step.name == "enter mode 1"
    assert rig.sim.documents == []


async def test_wrong_access_password(rig: Rig) -> None:
    driver = rig.driver(access_password=1234)
    try:
        await _expect(de.WrongPassword, et.WRONG_PASSWORD, driver.connect())
    finally:
        await driver.close()


async def test_cashier_may_not_close_the_shift(rig: Rig) -> None:
    driver = rig.driver(password=1)  # cashier 1: registration yes, Z report no
    await driver.connect()
    try:
        await driver.fiscalize(receipt())
        await _expect(de.WrongPassword, et.WRONG_PASSWORD, driver.close_shift())
    finally:
        await driver.close()


async def test_receipt_already_open_is_reported_not_cancelled(rig: Rig, driver: AtolDriver) -> None:
    await driver.open_shift()
    await driver.close()

    def leave_a_receipt_open() -> None:  # another program opened a receipt and went away
        rig.sim.device.leave_mode()
        rig.sim.device.enter_mode(1, 30)
        rig.sim.device.open_receipt(1)

    rig.servers.call(leave_a_receipt_open)
    await driver.connect()
    refusal = await _expect(de.ReceiptOpen, et.RECEIPT_OPEN, driver.fiscalize(receipt()))
    assert refusal.step is not None and refusal.step.name == "open receipt"
    status = await driver.status()
    assert status.receipt_open and status.receipt_kind is not None  # not ours: left for the worker
    await driver.cancel_receipt()
    assert not (await driver.status()).receipt_open
    assert (await driver.fiscalize(receipt())).document.number == 2


async def test_mode_changed_behind_the_drivers_back(rig: Rig, driver: AtolDriver) -> None:
    await driver.x_report()  # driver believes: mode 2

    def switch() -> None:
        rig.sim.device.leave_mode()
        rig.sim.device.enter_mode(1, 30)

    rig.servers.call(switch)  # device: mode 1
    assert (await driver.fiscalize(receipt())).document.number == 2


async def test_payment_less_than_total_cancels_the_receipt(rig: Rig, driver: AtolDriver) -> None:
    await driver.open_shift()
    short = receipt(payments=(Payment(PaymentType.CASH, 100),))
    refusal = await _expect(de.PaymentLessThanTotal, et.PAYMENT_LESS, driver.fiscalize(short))
    assert refusal.step is not None and refusal.step.name == "close receipt"
    status = await driver.status()
    assert not status.receipt_open
    assert [d.kind for d in rig.sim.documents] == ["shift_open"]
    assert rig.sim.device.durable.counters.cancelled_count == 1


async def test_pipeline_failure_mid_receipt(rig: Rig, driver: AtolDriver) -> None:
    """Item 2 of 6 is refused: later items were queued but never executed, the close was never sent,
    the receipt is cancelled, the step is named, fiscal memory holds no receipt."""
    await driver.open_shift()
    lines = (Item("ok", 1000, 1000, VAT16), Item("zero", 1000, 0, VAT16)) + tuple(
        Item(f"later {n}", 1000, 1000, VAT16) for n in range(4)
    )
    sale = receipt(lines=lines, payments=(Payment(PaymentType.CASH, 10_000),))
    executed_before = len(list(rig.sim.dispatcher.executed))
    refusal = await _expect(de.InvalidQuantity, et.INVALID_QUANTITY, driver.fiscalize(sale))
    assert refusal.step is not None and refusal.step.name == "item 2 'zero'"
    assert refusal.step.command == 0xE6
    executed = list(rig.sim.dispatcher.executed)[executed_before:]
    names = [type(r).__name__ for r in executed]
    assert "CloseReceipt" not in names
    assert [r.name for r in executed if isinstance(r, cmd.RegisterItem)] == ["ok", "zero"]
    assert names[-1] == "CancelReceipt"
    assert not (await driver.status()).receipt_open
    assert [d.kind for d in rig.sim.documents] == ["shift_open"]
    # And the device is usable right away.
    assert (await driver.fiscalize(receipt())).document.number == 2


async def test_payment_step_failure_names_the_payment(rig: Rig) -> None:
    driver = rig.driver(pay_types={PaymentType.CASH: 1, PaymentType.CARD: 9})
    await driver.connect()
    try:
        refusal = await _expect(de.DeviceRefused, et.INVALID_PAYMENT_TYPE, driver.fiscalize(receipt()))
        assert refusal.step is not None and refusal.step.name.startswith("payment 1")
        assert refusal.name == "INVALID_PAYMENT_TYPE"
        assert not (await driver.status()).receipt_open
    finally:
        await driver.close()
    assert [d.kind for d in rig.sim.documents] == ["shift_open"]


async def test_not_enough_cash_and_shift_open_and_receipt_closed(rig: Rig, driver: AtolDriver) -> None:
    await _expect(de.NotEnoughCash, et.NOT_ENOUGH_CASH, driver.cash_out(1))
    from datetime import datetime

    await _expect(de.ShiftOpen, et.SHIFT_OPEN, driver.set_datetime(datetime(2026, 2, 1)))
    await _expect(de.ShiftOpen, et.SHIFT_OPEN, driver.open_shift())
    await _expect(de.ReceiptClosed, et.RECEIPT_CLOSED, driver.cancel_receipt())
    await _expect(de.NoMoreData, de.NO_MORE_DATA, driver.read_document(99))


async def test_shift_expired_from_the_device(rig: Rig) -> None:
    """The driver's own arithmetic says "fine" (48 h policy); the device says 0x88; with re-opening
    off the refusal carries the device's code."""
    driver = rig.driver(shift_policy=ShiftPolicy(auto_reopen=False, max_hours=48))
    await driver.connect()
    try:
        await driver.open_shift()
        rig.clock.advance(hours=25)
        with pytest.raises(de.ShiftPolicyRefused) as caught:
            await driver.fiscalize(receipt())
        assert caught.value.cause is not None and caught.value.cause.code == et.SHIFT_EXPIRED
        assert isinstance(caught.value.cause, de.ShiftExpired)
        await _expect(de.ShiftExpired, et.SHIFT_EXPIRED, driver.cash_in(100))
    finally:
        await driver.close()
    assert [d.kind for d in rig.sim.documents] == ["shift_open"]


async def test_unsupported_receipts_are_refused_before_sending(rig: Rig, driver: AtolDriver) -> None:
    from decimal import Decimal

    from kkm_bridge.model.tax import VatRate

    bad_rate = receipt(lines=(Item("x", 100, 1000, VatRate(Decimal(20))),))
    with pytest.raises(de.ReceiptNotSupported, match="not in the device tax table"):
        await driver.fiscalize(bad_rate)
    bad_name = receipt(lines=(Item("Сәлем", 100, 1000, VAT16),))
    with pytest.raises(de.ReceiptNotSupported):
        await driver.fiscalize(bad_name)
    assert rig.sim.documents == []


async def test_log_records_carry_the_callers_context(
    rig: Rig, driver: AtolDriver, caplog: pytest.LogCaptureFixture
) -> None:
    from kkm_bridge.driver.logctx import log_context

    await driver.open_shift()
    caplog.set_level("INFO", logger="kkm_bridge.driver")
    with log_context(job_id="job-42", device="kkm1"):
        await _expect(de.PaymentLessThanTotal, et.PAYMENT_LESS,
                      driver.fiscalize(receipt(payments=(Payment(PaymentType.CASH, 1),))))
    records = [r for r in caplog.records if "cancelled" in r.getMessage()]
    assert records and all(getattr(r, "job_id") == "job-42" and getattr(r, "device") == "kkm1" for r in records)
