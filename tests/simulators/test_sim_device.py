"""The device state machine answers every wrong state with the device's own error code."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sim_testutil import ITEMS, open_registration, sell

from protocols.atol import commands as cmd
from protocols.atol import errors_table as E
from simulators.atol import DeviceConfig, ManualClock, Simulator
from simulators.atol import codes
from simulators.atol.testing import HostCodec, InProcessHost


def err(code: int) -> cmd.ErrorReply:
    return cmd.ErrorReply(code, 0)


def test_item_outside_a_receipt(host: InProcessHost) -> None:
    open_registration(host)
    assert host.call(cmd.RegisterItem(2, "Хлеб", 100, 1000, tax=1)) == err(E.RECEIPT_CLOSED)
    assert host.call(cmd.Payment(0, 1, 100)) == err(E.RECEIPT_CLOSED)
    assert host.call(cmd.CloseReceipt(0, 1, 0)) == err(E.RECEIPT_CLOSED)
    assert host.call(cmd.CancelReceipt()) == err(E.RECEIPT_CLOSED)


def test_payment_less_than_total(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenReceipt(0, 1))
    host.call_ok(cmd.RegisterItem(2, "Хлеб", 10000, 1000, tax=1))
    assert host.call(cmd.Payment(0, 1, 4000)) == cmd.PaymentReply(remaining=6000, change=0)
    assert host.call(cmd.CloseReceipt(0, 1, 1000)) == err(E.PAYMENT_LESS)
    assert not [d for d in sim.documents if d.kind == "receipt"]
    # The failed close changed nothing; closing with the remaining amount works.
    assert host.call(cmd.CloseReceipt(0, 2, 6000)) == cmd.Ok()


def test_noncash_above_total_and_storno(host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenReceipt(0, 1))
    host.call_ok(cmd.RegisterItem(2, "Хлеб", 10000, 1000, tax=1))
    assert host.call(cmd.Payment(0, 2, 10001)) == err(codes.NONCASH_EXCEEDS_TOTAL)
    assert host.call(cmd.Payment(0, 1, 20000)) == cmd.PaymentReply(0, 10000)
    assert host.call(cmd.PaymentStorno(0, 1, 20001)) == err(codes.STORNO_EXCEEDS_PAYMENT)
    assert host.call(cmd.PaymentStorno(0, 1, 15000)) == cmd.PaymentReply(5000, 0)
    # No items after payments started.
    assert host.call(cmd.RegisterItem(2, "Ещё", 100, 1000, tax=1)) == err(E.NOT_ALLOWED_IN_MODE)


def test_shift_expires_after_24_hours(sim: Simulator, host: InProcessHost, clock: ManualClock) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenShift())
    clock.advance(hours=23, minutes=59)
    assert sell(host, ITEMS[:1], []) == cmd.Ok()
    clock.advance(minutes=1)
    assert host.call(cmd.OpenReceipt(0, 1)) == err(E.SHIFT_EXPIRED)
    assert host.call(cmd.CashIn(0, 100)) == err(E.SHIFT_EXPIRED)
    assert host.call(cmd.FnShiftState()).shift_open
    # Z report closes the expired shift, then a new one opens.
    host.call_ok(cmd.LeaveMode())
    host.call_ok(cmd.EnterMode(3, 29))
    assert host.call(cmd.ZReport()) == cmd.Ok()
    host.call_ok(cmd.LeaveMode())
    open_registration(host)
    assert sell(host, ITEMS[:1], []) == cmd.Ok()
    assert sim.documents[-1].shift_number == 2 and sim.documents[-1].receipt_number == 1


def test_receipt_open_when_shift_expires_mid_receipt(host: InProcessHost, clock: ManualClock) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenShift())
    host.call_ok(cmd.OpenReceipt(0, 1))
    clock.advance(hours=25)
    assert host.call(cmd.RegisterItem(2, "Хлеб", 100, 1000, tax=1)) == err(E.SHIFT_EXPIRED)
    assert host.call(cmd.CancelReceipt()) == cmd.Ok()


def test_shift_and_receipt_already_open(host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenShift())
    assert host.call(cmd.OpenShift()) == err(E.SHIFT_OPEN)
    host.call_ok(cmd.OpenReceipt(0, 1))
    assert host.call(cmd.OpenReceipt(0, 1)) == err(E.RECEIPT_OPEN)
    assert host.call(cmd.LeaveMode()) == err(E.RECEIPT_OPEN)
    assert host.call(cmd.CashIn(0, 100)) == err(E.RECEIPT_OPEN)
    assert host.call(cmd.SetDateTime(datetime(2026, 1, 1))) == err(E.SHIFT_OPEN)


def test_no_paper_and_cover_open(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    sim.device.paper_present = False
    assert host.call(cmd.OpenShift()) == err(E.NO_PAPER)
    assert host.call(cmd.OpenReceipt(0, 1)) == err(E.NO_PAPER)
    assert host.call(cmd.PrintLine("hello")) == err(E.NO_PAPER)
    assert host.call(cmd.ShortState()).no_paper
    assert not host.call(cmd.DeviceState()).paper_present
    # A receipt that is not printed does not need paper.
    assert host.call(cmd.OpenReceipt(cmd.RECEIPT_FLAG_NO_PRINT, 1)) == cmd.Ok()
    host.call_ok(cmd.CancelReceipt())
    sim.device.load_paper()
    sim.device.cover_open = True
    assert host.call(cmd.OpenReceipt(0, 1)) == err(E.COVER_OPEN_ERROR)
    assert host.call(cmd.DeviceState()).cover_open
    sim.device.close_cover()
    assert host.call(cmd.OpenReceipt(0, 1)) == cmd.Ok()


def test_wrong_passwords(sim: Simulator) -> None:
    host = InProcessHost(sim)
    assert host.call(cmd.EnterMode(1, 12)) == err(E.WRONG_PASSWORD)
    assert host.call(cmd.EnterMode(3, 1)) == err(E.WRONG_PASSWORD)  # a cashier cannot close the shift
    assert host.call(cmd.EnterMode(1, 1)) == cmd.Ok()  # cashier 1, password 1
    assert host.call(cmd.DeviceState()).cashier == 1
    wrong_access = InProcessHost(sim, password=1234)
    assert wrong_access.call(cmd.DeviceState()) == err(E.WRONG_PASSWORD)
    # Entering a mode from another mode is refused; 48 first.
    assert host.call(cmd.EnterMode(2, 30)) == err(E.NOT_ALLOWED_IN_MODE)


def test_repeated_short_commands_are_answered_alike(sim: Simulator) -> None:
    """Short payloads' decodings are kept (Dispatcher.execute): a repeat is still checked and recorded."""
    host = InProcessHost(sim)
    wrong_access = InProcessHost(sim, password=1234)
    before = sim.dispatcher.executed_count
    for _ in range(3):
        assert wrong_access.call(cmd.DeviceState()) == err(E.WRONG_PASSWORD)
        assert isinstance(host.call(cmd.DeviceState()), cmd.DeviceStateReply)
    assert sim.dispatcher.executed_count == before + 6
    assert list(sim.dispatcher.executed)[-6:] == [cmd.DeviceState()] * 6
    assert host.call(cmd.LastError()) == cmd.LastErrorReply(0, 0)


def test_commands_need_their_mode(host: InProcessHost) -> None:
    assert host.call(cmd.OpenReceipt(0, 1)) == err(E.NOT_ALLOWED_IN_MODE)
    assert host.call(cmd.ZReport()) == err(E.NOT_ALLOWED_IN_MODE)
    assert host.call(cmd.XReport(1)) == err(E.NOT_ALLOWED_IN_MODE)


def test_unknown_command_and_bad_values(sim: Simulator, host: InProcessHost) -> None:
    codec = HostCodec()
    statuses = codec.statuses(sim.feed(codec.raw_add_frame(b"\x00\x00\x01")))  # no command 01
    assert statuses[0].payload == bytes((0x55, E.INVALID_COMMAND, 0))
    sim.feed(codec.ack_frame(codec.task_id))  # a failed task blocks the buffer until ACKed
    statuses = codec.statuses(sim.feed(codec.raw_add_frame(b"\x00\x00\x92\x00")))  # 92 missing a byte
    assert statuses[0].payload == bytes((0x55, E.INVALID_LENGTH, 0))
    sim.feed(codec.ack_frame(codec.task_id))
    open_registration(host)
    assert host.call(cmd.OpenReceipt(0, 3)) == err(E.INVALID_RECEIPT_TYPE)
    host.call_ok(cmd.OpenReceipt(0, 1))
    assert host.call(cmd.RegisterItem(2, "Хлеб", 100, 0, tax=1)) == err(E.INVALID_QUANTITY)
    assert host.call(cmd.RegisterItem(2, "Хлеб", 100, 1000, tax=9)).error == E.INVALID_PRICE
    assert host.call(cmd.RegisterItem(2, "Хлеб", 100, 1000, tax=1, discount=200)) == err(codes.INVALID_DISCOUNT)
    host.call_ok(cmd.RegisterItem(2, "Хлеб", 100, 1000, tax=1))
    assert host.call(cmd.Payment(0, 9, 100)) == err(E.INVALID_PAYMENT_TYPE)
    assert host.call(cmd.Payment(0, 1, 0)) == err(E.INVALID_PRICE)
    assert host.call(cmd.LastError()) == cmd.LastErrorReply(E.INVALID_PRICE, 0)


def test_numbering_counters_cash_and_reports(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.CashIn(0, 100000))
    sell(host, ITEMS[:1], [])  # 300.00 cash
    sell(host, ITEMS[:1], [(cmd.PayType.ELECTRONIC, 30000)])
    host.call_ok(cmd.OpenReceipt(0, cmd.ReceiptType.SELL_RETURN))
    host.call_ok(cmd.RegisterItem(2, "Хлеб", 15000, 1000, tax=1))
    host.call_ok(cmd.CloseReceipt(0, 1, 0))
    assert host.call(cmd.CashOut(0, 10_000_000)) == err(E.NOT_ENOUGH_CASH)
    host.call_ok(cmd.CashOut(0, 5000))
    assert host.call(cmd.CashInDrawer()) == cmd.CashInDrawerReply(100000 + 30000 - 15000 - 5000)
    kinds = [d.kind for d in sim.documents]
    assert kinds == ["shift_open", "cash_in", "receipt", "receipt", "receipt", "cash_out"]
    assert [d.receipt_number for d in sim.documents if d.kind == "receipt"] == [1, 2, 3]
    counters = sim.device.durable.counters
    assert counters.by_type["1"].count == 2 and counters.by_type["1"].total == 60000
    assert counters.by_type["1"].payments == {"1": 30000, "2": 30000}
    assert counters.by_type["2"].total == 15000
    assert (counters.cash_in_total, counters.cash_out_total) == (100000, 5000)
    host.call_ok(cmd.LeaveMode())
    host.call_ok(cmd.EnterMode(2, 30))
    host.call_ok(cmd.XReport(1))
    assert sim.device.tape[-1].kind == "x_report"
    assert len(sim.documents) == 6  # X report is not fiscal
    host.call_ok(cmd.LeaveMode())
    host.call_ok(cmd.EnterMode(3, 30))
    host.call_ok(cmd.ZReport())
    z = sim.documents[-1]
    assert z.kind == "shift_close" and z.counters["by_type"]["1"]["total"] == 60000
    assert host.call(cmd.ZReport()) == err(codes.ZEROED_CASH)
    assert host.call(cmd.LastShiftTotals()) == cmd.LastShiftTotalsReply(60000, 15000)
    assert not host.call(cmd.DeviceState()).shift_open


def test_receipt_discount_spreads_over_lines_and_vat(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenReceipt(0, 1))
    host.call_ok(cmd.RegisterItem(2, "A", 10001, 1000, tax=1))
    host.call_ok(cmd.RegisterItem(2, "B", 20000, 1000, tax=2))
    host.call_ok(cmd.ReceiptDiscount(0, 0))  # 0: round the total down to whole units -> 0.01 off
    host.call_ok(cmd.CloseReceipt(0, 1, 0))
    receipt = sim.documents[-1]
    assert receipt.total == 30000 and sum(line["amount"] for line in receipt.lines) == 30000
    assert [g["amount"] for g in receipt.vat] == [round(10000 * 20 / 120), round(20000 * 10 / 110)]


def test_auto_open_shift_can_be_disabled(clock: ManualClock) -> None:
    sim = Simulator(DeviceConfig(auto_open_shift=False), clock=clock)
    host = InProcessHost(sim)
    open_registration(host)
    assert host.call(cmd.OpenReceipt(0, 1)) == err(E.NOT_ALLOWED_IN_MODE)
    host.call_ok(cmd.OpenShift())
    assert host.call(cmd.OpenReceipt(0, 1)) == cmd.Ok()


def test_cancel_receipt_leaves_no_document(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenShift())
    host.call_ok(cmd.OpenReceipt(0, 1))
    host.call_ok(cmd.RegisterItem(2, "Хлеб", 100, 1000, tax=1))
    host.call_ok(cmd.CancelReceipt())
    assert [d.kind for d in sim.documents] == ["shift_open"]
    assert sim.device.tape[-1].kind == "cancelled"


def test_set_date_time_with_shift_closed(host: InProcessHost, clock: ManualClock) -> None:
    import datetime as dt

    host.call_ok(cmd.SetDateTime(dt.datetime(2026, 3, 1, 12, 30, 0)))
    assert clock.now() == dt.datetime(2026, 3, 1, 12, 30, 0)
    assert host.call(cmd.DeviceState()).datetime == dt.datetime(2026, 3, 1, 12, 30, 0)
    clock.advance(timedelta(seconds=5))
    host.call_ok(cmd.SetDate(dt.date(2026, 3, 2)))
    assert clock.now().date() == dt.date(2026, 3, 2)


@pytest.mark.parametrize("name", sorted(codes.CODES_NOT_IN_TABLE))
def test_codes_outside_the_codec_table_are_real_atol_codes(name: str) -> None:
    """Codes the simulator needs beyond errors_table's selection are from atol4j's list, not invented."""
    atol4j = {"NO_MORE_DATA": 24, "STORNO_EXCEEDS_PAYMENT": 112, "NONCASH_EXCEEDS_TOTAL": 113,
              "INVALID_DISCOUNT": 123, "OPERATION_AFTER_DISCOUNT": 124, "INVALID_SECTION": 125, "ZEROED_CASH": 143}
    assert codes.CODES_NOT_IN_TABLE[name] == atol4j[name]


def test_no_items_after_the_receipt_discount(host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenReceipt(0, 1))
    host.call_ok(cmd.RegisterItem(2, "A", 10050, 1000, tax=1))
    host.call_ok(cmd.ReceiptDiscount(0, 50))
    assert host.call(cmd.RegisterItem(2, "B", 100, 1000, tax=1)) == err(codes.OPERATION_AFTER_DISCOUNT)
    assert host.call(cmd.ReceiptDiscount(0, 50)) == err(codes.INVALID_DISCOUNT)
    assert host.call(cmd.DeviceState()).receipt_sum == 10000
