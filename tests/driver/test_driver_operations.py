"""Every driver operation against the simulator over a real pty (serial transport) and over TCP.

After each fiscal operation the simulator's fiscal memory is checked (document count and totals) and
the driver's `FiscalDocument` must match the stored one (number, fiscal sign, total).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from driver_testutil import Rig
from driver_testutil import assert_matches, receipt

from kkm_bridge.driver import atol
from kkm_bridge.driver.api import DeviceStatus, DocumentKind, FiscalDevice, ShiftState
from kkm_bridge.driver.atol import AtolDriver
from kkm_bridge.model.receipt import Operation, Payment, PaymentType


async def test_driver_is_a_fiscal_device(driver: AtolDriver) -> None:
    assert isinstance(driver, FiscalDevice)


async def test_info_and_status_of_a_fresh_device(rig: Rig, driver: AtolDriver) -> None:
    info = await driver.info()
    assert info.model == rig.sim.config.model_name
    assert info.fn_number == rig.sim.config.registration.fn_number
    assert info.serial_number == str(rig.sim.config.registration.serial_digits())
    status = await driver.status()
    assert status.shift_state is ShiftState.CLOSED
    assert status.last_document_number == 0
    assert not status.receipt_open and status.paper_present and not status.cover_open
    assert status.device_time == rig.clock.now()


async def test_full_sale_with_split_payments_opens_the_shift_first(rig: Rig, driver: AtolDriver) -> None:
    sale = receipt()
    result = await driver.fiscalize(sale)
    assert result.shift_opened and result.shift_closed_first is None
    assert [d.kind for d in rig.sim.documents] == ["shift_open", "receipt"]
    stored = rig.sim.documents[-1]
    assert_matches(rig.sim, result.document, total=sale.total)
    assert result.document.kind is DocumentKind.SELL and result.document.number == 2
    assert result.change == sale.change == 5000 == stored.change
    assert {p["type"]: p["amount"] for p in stored.payments} == {2: sale.payments[0].amount, 1: sale.payments[1].amount}
    assert [(line["name"], line["amount"], line["section"]) for line in stored.lines] == [
        (item.name, item.amount, item.section or 0) for item in sale.items
    ]
    assert result.document.vat == {rate.code: vat for rate, vat in sale.vat_by_rate.items()}
    assert result.document.date_time == rig.clock.now()
    # A second receipt does not open another shift.
    again = await driver.fiscalize(receipt())
    assert not again.shift_opened and again.document.number == 3
    assert_matches(rig.sim, again.document)
    assert await driver.last_document() == again.document
    assert (await driver.status()).last_document_number == 3


async def test_refund_buy_and_buy_return(rig: Rig, driver: AtolDriver) -> None:
    await driver.cash_in(1_000_000)
    for operation, kind in (
        (Operation.SELL_RETURN, DocumentKind.SELL_RETURN),
        (Operation.BUY, DocumentKind.BUY),
        (Operation.BUY_RETURN, DocumentKind.BUY_RETURN),
    ):
        count = len(rig.sim.documents)
        doc = (await driver.fiscalize(receipt(operation))).document
        assert doc.kind is kind
        assert len(rig.sim.documents) == count + 1
        assert_matches(rig.sim, doc)


async def test_electronic_only_receipt_is_not_printed(rig: Rig, driver: AtolDriver) -> None:
    sale = receipt(payments=(Payment(PaymentType.CARD, receipt().total),), electronic_only=True)
    await driver.open_shift()
    printed = len(rig.sim.device.tape)
    result = await driver.fiscalize(sale)
    assert_matches(rig.sim, result.document, total=sale.total)
    assert len(rig.sim.device.tape) == printed  # nothing went to paper


async def test_x_and_z_reports(rig: Rig, driver: AtolDriver) -> None:
    opened = await driver.open_shift()
    assert opened.kind is DocumentKind.SHIFT_OPEN and opened.shift_number == 1
    assert_matches(rig.sim, opened)
    await driver.fiscalize(receipt())
    tape = len(rig.sim.device.tape)
    await driver.x_report()
    assert rig.sim.device.tape[tape].kind != "cancelled" and len(rig.sim.device.tape) == tape + 1
    assert len(rig.sim.documents) == 2  # an X report is not a fiscal document
    closed = await driver.close_shift()
    assert closed.kind is DocumentKind.SHIFT_CLOSE and closed.number == 3
    assert_matches(rig.sim, closed)
    status = await driver.status()
    assert status.shift_state is ShiftState.CLOSED and status.shift_number == 1
    # The next receipt opens shift 2 by itself.
    result = await driver.fiscalize(receipt())
    assert result.shift_opened and result.document.shift_number == 2


async def test_cash_in_and_out(rig: Rig, driver: AtolDriver) -> None:
    cash_in = await driver.cash_in(50_000)
    assert cash_in.kind is DocumentKind.CASH_IN
    assert_matches(rig.sim, cash_in, total=50_000)
    cash_out = await driver.cash_out(20_000)
    assert cash_out.kind is DocumentKind.CASH_OUT
    assert_matches(rig.sim, cash_out, total=20_000)
    assert [d.kind for d in rig.sim.documents] == ["shift_open", "cash_in", "cash_out"]
    assert rig.sim.device.durable.cash_in_drawer == 30_000


async def test_read_document_by_number(rig: Rig, driver: AtolDriver) -> None:
    sale = (await driver.fiscalize(receipt())).document
    assert await driver.read_document(sale.number) == sale
    opened = await driver.read_document(1)
    assert opened.kind is DocumentKind.SHIFT_OPEN
    assert_matches(rig.sim, opened)


async def test_expected_no_more_data_ends_a_run_without_an_exception(rig: Rig, driver: AtolDriver) -> None:
    """The status probe past the last document and a document read running past its last TLV end in
    "no more data" on purpose: the run returns the replies before it and keeps the refusal aside; a
    read of a document that does not exist still raises it."""
    sale = (await driver.fiscalize(receipt())).document
    opened = await driver.read_document(1)  # the shift-open document: fewer TLVs than the first batch reads
    assert opened.kind is DocumentKind.SHIFT_OPEN
    ended = driver.last_run_end
    assert isinstance(ended, atol.NoMoreData) and ended.step is not None
    assert ended.step.name.startswith("read TLV ")
    status = await driver.status()
    assert status.last_document_number == sale.number
    ended = driver.last_run_end
    assert isinstance(ended, atol.NoMoreData) and ended.step is not None
    assert ended.step.name == f"open document {sale.number + 1}" and ended.step.index == 2
    with pytest.raises(atol.NoMoreData) as missing:
        await driver.read_document(sale.number + 5)
    assert missing.value.step is not None and missing.value.step.name == f"open document {sale.number + 5}"
    # A successful run leaves nothing aside.
    await driver.open_drawer()
    assert driver.last_run_end is None


async def test_print_text_drawer_and_clock(rig: Rig, driver: AtolDriver) -> None:
    await driver.print_text(["Hello", "Сәлем"])
    text = rig.sim.device.tape[-1].text()
    assert "Hello" in text and "С?лем" in text
    await driver.open_drawer()
    assert (await driver.status()).drawer_open
    await driver.set_datetime(datetime(2026, 3, 1, 12, 30, 15))
    assert rig.clock.now() == datetime(2026, 3, 1, 12, 30, 15)
    assert (await driver.status()).device_time == datetime(2026, 3, 1, 12, 30, 15)


async def test_a_new_driver_finds_the_last_document_and_shift_start(rig: Rig, driver: AtolDriver) -> None:
    for _ in range(5):
        await driver.fiscalize(receipt())
    await driver.close()  # a serial port is opened exclusively
    fresh = rig.driver()
    await fresh.connect()
    try:
        status = await fresh.status()
        assert status.last_document_number == 6
        assert status.shift_opened_at == rig.clock.now()
        last = await fresh.last_document()
        assert last is not None and last.number == 6
        assert_matches(rig.sim, last)
    finally:
        await fresh.close()


def _sim_receipts(rig: Rig, count: int) -> None:
    """`count` one-item sales made on the simulator directly (the driver left it in registration mode):
    many documents in a shift without the cost of as many driver round trips."""
    device = rig.sim.device
    for _ in range(count):
        device.open_receipt(1)
        device.register_item("Чай", 10_000, 1000, tax=1)
        device.close_receipt()


async def _two_statuses(rig: Rig) -> tuple[list[DeviceStatus], list[int]]:
    """A fresh driver's first two status() calls, and the device tasks each one cost."""
    fresh = rig.driver()
    await fresh.connect()
    try:
        statuses, costs = [], []
        for _ in range(2):
            before = fresh.link.stats.tasks
            statuses.append(await fresh.status())
            costs.append(fresh.link.stats.tasks - before)
        return statuses, costs
    finally:
        await fresh.close()


async def test_a_new_driver_finds_the_start_of_a_long_shift_once(rig: Rig, driver: AtolDriver) -> None:
    # Shift 1 closed; shift 2 opened an hour later and holds more receipts than SHIFT_SCAN_LIMIT.
    await driver.fiscalize(receipt())
    await driver.close_shift()
    rig.clock.advance(hours=1)
    opened = rig.clock.now()
    await driver.fiscalize(receipt())
    rig.clock.advance(hours=1)
    _sim_receipts(rig, atol.SHIFT_SCAN_LIMIT + 6)
    await driver.close()
    last = len(rig.sim.documents)
    (first, second), (scan, again) = await _two_statuses(rig)
    assert first.shift_number == 2 and first.last_document_number == last
    assert first.shift_opened_at == opened
    assert second.shift_opened_at == opened
    assert scan < 100  # found near the shift's start (a scan from the last document read ~1000 tasks)
    assert again <= 3  # 3F, FN shift state, the last-document probe: no second scan
    # The open time is what makes a 24 h shift expire for the policy.
    rig.clock.set(opened + timedelta(hours=24))
    (expired, _), _ = await _two_statuses(rig)
    assert expired.shift_state is ShiftState.EXPIRED


async def test_a_shift_start_not_found_is_not_looked_for_again(
    rig: Rig, driver: AtolDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atol, "SHIFT_SCAN_LIMIT", 3)
    await driver.open_shift()
    for _ in range(5):  # documents of the shift that are not receipts: the FN's receipt count stays 0
        await driver.cash_in(1000)
    await driver.close()
    (first, second), (_, again) = await _two_statuses(rig)
    assert first.shift_state is ShiftState.OPEN and first.shift_opened_at is None
    assert second.shift_opened_at is None
    assert again <= 3


async def test_a_receipt_count_above_the_documents_scans_up_to_the_shift_start(
    rig: Rig, driver: AtolDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    await driver.fiscalize(receipt())
    await driver.close_shift()
    rig.clock.advance(hours=1)
    opened = rig.clock.now()
    await driver.fiscalize(receipt())
    _sim_receipts(rig, 3)
    await driver.close()
    device = rig.sim.device
    real = device.fn_shift_state
    monkeypatch.setattr(device, "fn_shift_state", lambda: (lambda s: (s[0], s[1], s[2] + 3))(real()))
    (first, _), (_, again) = await _two_statuses(rig)
    assert first.shift_number == 2 and first.shift_opened_at == opened
    assert again <= 3
