"""Every fault is usable as a test tool: what the host sees, and what the device keeps."""

from __future__ import annotations

from sim_testutil import ITEMS, FakeMonotonic, open_registration

from protocols.atol import commands as cmd
from protocols.atol import errors_table as E
from protocols.atol.v3 import Frame, FrameError, encode_frame
from protocols.atol.v3_buffer import AddFlags, TaskState, decode_device
from simulators.atol import DeviceConfig, Faults, FiscalMemory, ManualClock, Simulator, parse_fault_spec
from simulators.atol.testing import HostCodec, InProcessHost


def make(clock: ManualClock, mono: FakeMonotonic, faults: Faults, path=None) -> Simulator:  # type: ignore[no-untyped-def]
    return Simulator(DeviceConfig(sign_key_seed=3), clock=clock, faults=faults, monotonic=mono, state_path=path)


def start_receipt(host: InProcessHost) -> None:
    open_registration(host)
    host.call_ok(cmd.OpenReceipt(0, 1))
    for item in ITEMS:
        host.call_ok(cmd.RegisterItem(2, item.name, item.price, item.quantity, tax=item.tax))


def test_corrupt_rate_is_seeded_and_resend_recovers(clock: ManualClock, mono: FakeMonotonic) -> None:
    outputs = []
    for _ in range(2):
        sim = make(clock, mono, Faults(seed=42, corrupt_rate=0.2))
        codec = HostCodec()
        frame, pid, _ = codec.add_frame(cmd.DeviceState(), pid=1, tid=1)
        outputs.append(sim.feed(frame))
    assert outputs[0] == outputs[1]  # same seed, same corruption
    events = HostCodec().frames(outputs[0])
    assert any(isinstance(e, FrameError) for e in events)
    # The device keeps the good frame: a resend request gets it (corruption is random per byte, so
    # switch it off to see the clean copy).
    sim.faults.corrupt_rate = 0.0
    resent = HostCodec().frames(sim.feed(encode_frame(1, b"")))
    assert isinstance(resent[0], Frame) and decode_device(resent[0].data).state == TaskState.RESULT


def test_corrupt_next_reply_to_one_command(sim: Simulator, host: InProcessHost) -> None:
    sim.faults.corrupt_next(command=0x45)
    assert host.call(cmd.DeviceState()).fiscalised  # 3F untouched
    codec = HostCodec()
    frame, pid, tid = codec.add_frame(cmd.ShortState(), pid=9, tid=9)
    events = codec.frames(sim.feed(frame))
    assert len(events) == 1 and isinstance(events[0], FrameError) and events[0].packet_id == pid
    good = codec.statuses(sim.feed(encode_frame(pid, b"")))
    assert good[0].state == TaskState.RESULT


def test_corrupted_input_makes_the_device_ask_for_a_resend(clock: ManualClock, mono: FakeMonotonic) -> None:
    sim = make(clock, mono, Faults(seed=5, corrupt_in_rate=1.0))
    codec = HostCodec()
    frame, pid, _ = codec.add_frame(cmd.DeviceState())
    answer = sim.feed(frame)
    assert sim.task_buffer.tasks == {}  # nothing was executed
    sim.faults.corrupt_in_rate = 0.0
    # Whatever came back (often an empty resend-request frame), the clean frame then works.
    assert all(isinstance(e, (Frame, FrameError)) for e in codec.frames(answer))
    assert codec.statuses(sim.feed(frame))[0].state == TaskState.RESULT


def test_dropped_reply_is_recovered_with_req(sim: Simulator, host: InProcessHost) -> None:
    start_receipt(host)
    sim.faults.drop_next(command=0x4A)
    codec = host.codec
    frame, _, tid = codec.add_frame(cmd.CloseReceipt(0, 1, 0))
    assert sim.feed(frame) == b""  # the reply never came
    receipts = [d for d in sim.documents if d.kind == "receipt"]
    assert len(receipts) == 1  # but the receipt was closed
    status = codec.statuses(sim.feed(codec.req_frame(tid)))[0]
    assert status.state == TaskState.RESULT and status.payload == b"\x55\x00\x00"
    # Re-sending the same ADD does not print a second receipt.
    assert codec.statuses(sim.feed(frame))[0].state == TaskState.ALREADY_EXISTS
    assert len([d for d in sim.documents if d.kind == "receipt"]) == 1
    assert sim.faults.triggered == ["drop cmd=4A"]


def test_drop_rate(clock: ManualClock, mono: FakeMonotonic) -> None:
    sim = make(clock, mono, Faults(seed=1, drop_rate=1.0))
    frame, _, _ = HostCodec().add_frame(cmd.Beep())
    assert sim.feed(frame) == b""
    assert "drop_rate" in sim.faults.triggered


def test_stall_holds_replies_until_it_ends(sim: Simulator, host: InProcessHost, mono: FakeMonotonic) -> None:
    sim.faults.stall_next(seconds=5.0)
    codec = host.codec
    frame, _, _ = codec.add_frame(cmd.DeviceState())
    assert sim.feed(frame) == b""
    assert sim.wake_at() == mono.now + 5.0
    frame2, _, _ = codec.add_frame(cmd.ShortState())
    assert sim.feed(frame2) == b""  # input during the stall waits too
    mono.advance(5.0)
    statuses = codec.statuses(b"".join(e.data for e in sim.poll()))
    assert [s.state for s in statuses] == [TaskState.RESULT, TaskState.RESULT]
    assert sim.wake_at() is None


def test_disconnect_mid_frame(sim: Simulator, host: InProcessHost, mono: FakeMonotonic) -> None:
    sim.faults.disconnect_next(command=0x3F, seconds=1.0)
    codec = host.codec
    frame, pid, tid = codec.add_frame(cmd.DeviceState())
    emissions = sim.process(frame)
    assert len(emissions) == 1 and emissions[0].disconnect
    full = encode_frame(pid, sim.task_buffer.tasks[tid].status().state.to_bytes(1, "big")
                        + sim.task_buffer.tasks[tid].reply)
    assert full.startswith(emissions[0].data) and len(emissions[0].data) < len(full)
    assert codec.frames(emissions[0].data) == []  # half a frame: nothing decodes
    assert sim.disconnects == 1
    assert sim.feed(codec.req_frame(tid)) == b""  # the link is down for a second
    mono.advance(1.0)
    codec.decoder.reset()
    assert codec.statuses(sim.feed(codec.req_frame(tid)))[0].state == TaskState.RESULT  # the buffer survived


def test_power_cut_after_close_receipt_before_reply(tmp_path, clock: ManualClock, mono: FakeMonotonic) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "state.db"
    sim = make(clock, mono, Faults(), path)
    host = InProcessHost(sim)
    start_receipt(host)
    sim.faults.power_cut("after_close_receipt_before_reply")
    codec = host.codec
    frame, _, tid = codec.add_frame(cmd.CloseReceipt(0, 1, 0), flags=AddFlags.NEED_RESULT)
    sync = codec.statuses(sim.feed(frame))
    assert [s.state for s in sync] == [TaskState.PENDING]  # accepted...
    assert sim.read_async() == b""  # ...but the result never came
    assert sim.power_cuts == 1
    # The receipt is in fiscal memory (and on disk), the task buffer is gone.
    receipts = [d for d in sim.documents if d.kind == "receipt"]
    assert len(receipts) == 1
    assert [d.kind for d in FiscalMemory(path).documents] == ["shift_open", "receipt"]
    assert codec.statuses(sim.feed(codec.req_frame(tid)))[0].state == TaskState.NOT_FOUND
    # After the reboot: mode 0, no receipt open, receipt counter moved on: the driver can tell.
    state = host.call(cmd.DeviceState())
    assert (state.mode, state.receipt_state, state.receipt_number) == (0, 0, 1)


def test_power_cut_before_commit_loses_only_the_open_receipt(sim: Simulator, host: InProcessHost) -> None:
    start_receipt(host)
    sim.faults.power_cut("before_close_receipt_commit")
    frame, _, _ = host.codec.add_frame(cmd.CloseReceipt(0, 1, 0))
    assert sim.feed(frame) == b""
    assert [d.kind for d in sim.documents] == ["shift_open"]
    assert host.call(cmd.DeviceState()).receipt_state == 0


def test_power_cut_mid_reply_and_before_execute(sim: Simulator, host: InProcessHost) -> None:
    start_receipt(host)
    sim.faults.power_cut("mid_close_receipt_reply")
    frame, _, _ = host.codec.add_frame(cmd.CloseReceipt(0, 1, 0))
    half = sim.feed(frame)
    assert half and host.codec.frames(half) == []
    assert [d.kind for d in sim.documents] == ["shift_open", "receipt"]
    host.codec.decoder.reset()
    sim.faults.power_cut("before_execute", command=0x9A)
    open_registration(host)
    frame, _, _ = host.codec.add_frame(cmd.OpenShift())
    assert sim.feed(frame) == b""
    assert sim.power_cuts == 2


def test_power_off_period_discards_input(clock: ManualClock, mono: FakeMonotonic) -> None:
    sim = make(clock, mono, Faults(power_off_seconds=2.0))
    sim.faults.power_cut("after_execute_before_reply")
    codec = HostCodec()
    frame, _, _ = codec.add_frame(cmd.Beep())
    assert sim.feed(frame) == b""
    frame, _, _ = codec.add_frame(cmd.Beep())
    assert sim.feed(frame) == b""  # still off
    mono.advance(2.0)
    assert codec.statuses(sim.feed(frame))[0].state == TaskState.RESULT


def test_paper_runs_out_after_n_documents(clock: ManualClock, mono: FakeMonotonic) -> None:
    sim = make(clock, mono, Faults(paper_out_after=2))
    host = InProcessHost(sim)
    open_registration(host)
    host.call_ok(cmd.OpenShift())  # document 1
    host.call_ok(cmd.CashIn(0, 1000))  # document 2: the paper ends
    assert host.call(cmd.CashIn(0, 1000)) == cmd.ErrorReply(E.NO_PAPER)
    assert host.call(cmd.ShortState()).no_paper
    sim.device.load_paper()
    host.call_ok(cmd.CashIn(0, 1000))


def test_cover_opens_after_n_documents(clock: ManualClock, mono: FakeMonotonic) -> None:
    sim = make(clock, mono, Faults(cover_open_after=1))
    host = InProcessHost(sim)
    open_registration(host)
    host.call_ok(cmd.OpenShift())
    assert host.call(cmd.OpenReceipt(0, 1)) == cmd.ErrorReply(E.COVER_OPEN_ERROR)
    assert host.call(cmd.DeviceState()).cover_open


def test_fault_specs_from_the_command_line() -> None:
    faults = Faults()
    for spec in ("corrupt-rate:0.01", "drop-rate:0.5", "drop:cmd=4A,count=2", "corrupt:cmd=3F",
                 "stall:seconds=3,cmd=99", "disconnect:cmd=4A,seconds=1",
                 "power-cut:after_close_receipt_before_reply", "paper-out-after:3", "cover-open-after:2",
                 "power-off-seconds:1.5", "corrupt-in-rate:0.02"):
        parse_fault_spec(faults, spec)
    assert (faults.corrupt_rate, faults.drop_rate, faults.corrupt_in_rate) == (0.01, 0.5, 0.02)
    assert (faults.paper_out_after, faults.cover_open_after, faults.power_off_seconds) == (3, 2, 1.5)
    kinds = [(f.kind, f.command, f.count, f.seconds, f.stage) for f in faults.scripted]
    assert kinds == [
        ("drop", 0x4A, 2, 0.0, None), ("corrupt", 0x3F, 1, 0.0, None), ("stall", 0x99, 1, 3.0, None),
        ("disconnect", 0x4A, 1, 1.0, None), ("power_cut", 0x4A, 1, 0.0, "after_execute"),
    ]
    import pytest

    with pytest.raises(ValueError):
        parse_fault_spec(faults, "power-cut:no_such_point")
    with pytest.raises(ValueError):
        parse_fault_spec(faults, "explode")
