"""Wire-emulation bookkeeping (no wall-clock assertions) and robustness against arbitrary input."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_testutil import ITEMS, open_registration

from protocols.atol import commands as cmd
from protocols.atol.v3 import FrameDecoder
from simulators.atol import DeviceConfig, ManualClock, Simulator, WireTiming, verify_fiscal_sign
from simulators.atol.testing import InProcessHost


def test_processing_time_follows_printed_lines() -> None:
    sim = Simulator(DeviceConfig(), clock=ManualClock(),
                    timing=WireTiming(command_seconds=0.25, line_seconds=0.01, baud=9600))
    host = InProcessHost(sim)
    open_registration(host)
    host.call_ok(cmd.OpenReceipt(0, 1))
    host.call_ok(cmd.RegisterItem(2, "Хлеб", 100, 1000, tax=1))
    frame, _, _ = host.codec.add_frame(cmd.CloseReceipt(0, 1, 0))
    lines_before = sum(len(p.lines) for p in sim.device.tape)
    (emission,) = sim.process(frame)
    printed = sum(len(p.lines) for p in sim.device.tape) - lines_before
    assert printed > 20  # shift-open report + receipt
    assert emission.delay == 0.25 + printed * 0.01
    assert sim.timing.wire_seconds(960) == 1.0  # 8N1: 10 bits per byte


def test_timing_is_off_by_default(sim: Simulator, host: InProcessHost) -> None:
    frame, _, _ = host.codec.add_frame(cmd.DeviceState())
    assert [e.delay for e in sim.process(frame)] == [0.0]
    assert sim.timing.wire_seconds(1000) == 0.0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_arbitrary_bytes_never_crash_and_answers_are_frames(chunks: list[bytes]) -> None:
    sim = Simulator(DeviceConfig(), clock=ManualClock())
    decoder = FrameDecoder()
    for chunk in chunks:
        out = sim.feed(chunk)
        assert all(not hasattr(e, "reason") for e in decoder.feed(out))
    # Random bytes are never a valid mode password + registration sequence: no fiscal document.
    assert sim.documents == []


OPS = st.sampled_from(["open", "item", "pay_cash", "pay_card", "close", "cancel", "cash_in", "cash_out",
                       "x", "z", "leave", "reg", "expire"])


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, max_size=40), st.integers(min_value=1, max_value=500000))
def test_random_sessions_keep_fiscal_memory_consistent(ops: list[str], amount: int) -> None:
    clock = ManualClock()
    sim = Simulator(DeviceConfig(), clock=clock)
    host = InProcessHost(sim)
    for op in ops:
        request = {
            "open": cmd.OpenReceipt(0, 1), "item": cmd.RegisterItem(2, ITEMS[0].name, amount, 1500, tax=1),
            "pay_cash": cmd.Payment(0, 1, amount), "pay_card": cmd.Payment(0, 2, amount // 3 + 1),
            "close": cmd.CloseReceipt(0, 1, 0), "cancel": cmd.CancelReceipt(), "cash_in": cmd.CashIn(0, amount),
            "cash_out": cmd.CashOut(0, amount), "x": cmd.XReport(1), "z": cmd.ZReport(), "leave": cmd.LeaveMode(),
            "reg": cmd.EnterMode(1, 30),
        }.get(op)
        if op == "expire":
            clock.advance(hours=12)
            continue
        if op in ("x", "z"):
            host.call(cmd.LeaveMode())
            host.call(cmd.EnterMode(2 if op == "x" else 3, 30))
        host.call(request)
    docs = sim.documents
    assert [d.number for d in docs] == list(range(1, len(docs) + 1))
    assert all(verify_fiscal_sign(sim.device.sign_key, d.to_dict()) for d in docs)
    # The drawer equals cash movements in fiscal memory.
    cash = 0
    for d in docs:
        if d.kind == "cash_in":
            cash += d.total
        elif d.kind == "cash_out":
            cash -= d.total
        elif d.kind == "receipt":
            cash += sum(p["amount"] for p in d.payments if p["type"] == 1) - d.change
        assert d.cash_in_drawer == cash
    assert sim.device.durable.cash_in_drawer == cash
    for d in docs:
        if d.kind == "receipt":
            assert sum(p["amount"] for p in d.payments) - d.change == d.total
            assert sum(line["amount"] for line in d.lines) == d.total
    # Receipt numbers restart with each shift and count up inside it.
    by_shift: dict[int, list[int]] = {}
    for d in docs:
        if d.kind == "receipt":
            by_shift.setdefault(d.shift_number, []).append(d.receipt_number or 0)
    for numbers in by_shift.values():
        assert numbers == list(range(1, len(numbers) + 1))
