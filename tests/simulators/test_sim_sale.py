"""A full sale over the v3 bytes, in-process: fiscal memory, sign, readback through A4 45/46 and 3F."""

from __future__ import annotations

from protocols.atol import commands as cmd
from protocols.atol import tlv
from simulators.atol import DocumentKind, Simulator, verify_fiscal_sign
from simulators.atol.testing import InProcessHost

from sim_testutil import ITEMS, ITEMS_TOTAL, open_registration, sell


def test_full_sale_leaves_exactly_one_receipt_with_right_totals(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    assert host.call(cmd.OpenShift()) == cmd.Ok()
    reply = sell(host, ITEMS, [(cmd.PayType.ELECTRONIC, 50000), (cmd.PayType.CASH, 60000)])
    assert reply == cmd.Ok()

    receipts = [d for d in sim.documents if d.kind == DocumentKind.RECEIPT]
    assert len(receipts) == 1
    receipt = receipts[0]
    assert receipt.total == ITEMS_TOTAL
    assert receipt.payments == [{"type": 1, "amount": 60000}, {"type": 2, "amount": 50000}]
    assert receipt.change == 60000 + 50000 - ITEMS_TOTAL
    assert [line["amount"] for line in receipt.lines] == [30000, 67575, 500]
    assert receipt.receipt_number == 1 and receipt.shift_number == 1
    # VAT per rate, half-up per line: 20 % of 300.00 -> 50.00; 10 % of 675.75 -> 61.43; no VAT.
    assert [(g["rate"], g["base"], g["amount"]) for g in receipt.vat] == [
        ("20", 30000, 5000), ("10", 67575, 6143), (None, 500, 0)]
    assert [d.kind for d in sim.documents] == [DocumentKind.SHIFT_OPEN, DocumentKind.RECEIPT]
    assert [d.number for d in sim.documents] == [1, 2]
    assert verify_fiscal_sign(sim.device.sign_key, receipt.to_dict())
    # Cash in drawer: cash paid minus change.
    assert host.call(cmd.CashInDrawer()) == cmd.CashInDrawerReply(60000 - receipt.change)


def test_fiscal_sign_detects_tampering(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    sell(host, ITEMS[:1], [])
    document = sim.documents[-1].to_dict()
    assert verify_fiscal_sign(sim.device.sign_key, document)
    document["total"] += 1
    assert not verify_fiscal_sign(sim.device.sign_key, document)
    assert not verify_fiscal_sign(b"another key", sim.documents[-1].to_dict())


def test_state_queries_summarise_the_shift(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenReceipt(0, cmd.ReceiptType.SELL))
    host.call_ok(cmd.RegisterItem(2, "Хлеб", 15000, 2000, tax=1))
    state = host.call(cmd.DeviceState())
    assert (state.mode, state.submode, state.receipt_state, state.receipt_sum) == (1, 1, 1, 30000)
    assert state.shift_open and state.paper_present and not state.cover_open and state.fiscalised
    host.call_ok(cmd.CloseReceipt(0, cmd.PayType.CASH, 0))
    state = host.call(cmd.DeviceState())
    assert (state.receipt_state, state.receipt_number, state.shift_number) == (0, 1, 1)
    assert state.serial_number == 33717
    fn = host.call(cmd.FnShiftState())
    assert fn == cmd.FnShiftStateReply(True, 1, 1)
    assert host.call(cmd.FnNumber()) == cmd.FnNumberReply(sim.config.registration.fn_number)


def test_documents_read_back_through_a4_45_46(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    sell(host, ITEMS, [(cmd.PayType.ELECTRONIC, 10000)])
    stored = sim.documents[-1]
    opened = host.call(cmd.FnOpenDocument(stored.number))
    assert opened.data[:2] == (3).to_bytes(2, "little")  # receipt
    records: list[tuple[int, bytes]] = []
    while True:
        reply = host.call(cmd.FnReadTlv())
        if isinstance(reply, cmd.ErrorReply):
            assert reply.error == 0x18  # no more data
            break
        records.append((reply.tag, reply.value))
    values = {tag: tlv.decode_value(tag, value) for tag, value in records if tag != tlv.ITEM}
    assert values[tlv.DOCUMENT_NUMBER] == stored.number
    assert values[tlv.TOTAL] == ITEMS_TOTAL
    assert values[tlv.RECEIPT_NUMBER] == 1
    assert values[tlv.REGISTRATION_NUMBER] == sim.config.registration.registration_number
    assert values[tlv.ELECTRONIC] == 10000
    assert values[tlv.CASH] == ITEMS_TOTAL - 10000
    assert int.from_bytes(values[tlv.FISCAL_SIGN], "big") == int(stored.fiscal_sign)
    items = [dict(tlv.decode_value(tag, value)) for tag, value in records if tag == tlv.ITEM]
    assert [(i[tlv.ITEM_NAME], i[tlv.ITEM_QUANTITY], i[tlv.ITEM_AMOUNT]) for i in items] == [
        ("Хлеб", 2000, 30000), ("Молоко 3.2%", 1500, 67575), ("Пакет", 1000, 500)]
    assert host.call(cmd.FnOpenDocument(999)) == cmd.ErrorReply(0x18)


def test_sale_with_async_results_as_atol4j_sends_it(sim: Simulator) -> None:
    """Every ADD with NEED_RESULT: A1 synchronously, then `A6 tid reply` on packet id F0."""
    from protocols.atol.v3_buffer import AddFlags, TaskState, decode_device

    from simulators.atol.testing import HostCodec, reply_of

    codec = HostCodec()
    requests = [cmd.EnterMode(1, 30), cmd.OpenReceipt(0, 1), cmd.RegisterItem(2, "Хлеб", 15000, 1000, tax=1),
                cmd.CloseReceipt(0, 1, 0), cmd.LeaveMode()]
    for request in requests:
        frame, pid, tid = codec.add_frame(request, flags=AddFlags.NEED_RESULT)
        sync = codec.frames(sim.feed(frame))
        assert [(f.packet_id, f.data[:1]) for f in sync] == [(pid, b"\xa1")]
        pushed = codec.frames(sim.read_async())
        assert len(pushed) == 1 and pushed[0].packet_id == 0xF0
        status = decode_device(pushed[0].data)
        assert status.state == TaskState.ASYNC_RESULT and status.tid == tid
        assert not isinstance(reply_of(request, status), cmd.ErrorReply)
        sim.feed(codec.ack_frame(tid))
    assert [d.kind for d in sim.documents] == ["shift_open", "receipt"]


def test_every_query_command_answers_a_decodable_reply(sim: Simulator, host: InProcessHost) -> None:
    queries = [cmd.DeviceState(), cmd.ShortState(), cmd.DeviceType(), cmd.CashInDrawer(), cmd.LastShiftTotals(),
               cmd.LastError(), cmd.FnShiftState(), cmd.FnOfdState(), cmd.FnState(), cmd.FnNumber(),
               cmd.FnValidity(), cmd.FnVersion(), cmd.ReadRegister(18), cmd.Beep(), cmd.OpenDrawer(),
               cmd.PrintBarcode("https://example.kz")]
    for request in queries:
        reply = host.call(request)
        assert not isinstance(reply, cmd.ErrorReply), (request, reply)
    assert host.call(cmd.DeviceType()).name == sim.config.model_name
    assert host.call(cmd.DeviceState()).drawer_open


def test_offline_documents_are_reported_unsent(clock) -> None:  # type: ignore[no-untyped-def]
    from simulators.atol import DeviceConfig

    sim = Simulator(DeviceConfig(offline=True), clock=clock)
    host = InProcessHost(sim)
    open_registration(host)
    sell(host, ITEMS[:1], [])
    state = host.call(cmd.FnOfdState())
    assert state.unsent_count == 2 and state.first_unsent_number == 1 and state.flags & 0x02
    assert all(d.offline for d in sim.documents)
