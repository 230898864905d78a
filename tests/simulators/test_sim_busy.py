"""Opt-in busy-device model: while a command is "printing", REQ says A2 and later ADDs queue (A1)."""

from __future__ import annotations

from sim_testutil import FakeMonotonic

from protocols.atol import commands as cmd
from protocols.atol.v3_buffer import AddFlags, TaskState, decode_device
from simulators.atol import DeviceConfig, ManualClock, Simulator, WireTiming
from simulators.atol.testing import HostCodec, reply_of


def busy_sim(mono: FakeMonotonic) -> Simulator:
    timing = WireTiming(command_seconds=1.0, busy_device=True)
    return Simulator(DeviceConfig(), clock=ManualClock(), timing=timing, monotonic=mono)


def test_req_sees_in_progress_then_the_result(mono: FakeMonotonic) -> None:
    sim = busy_sim(mono)
    codec = HostCodec()
    frame, _, tid = codec.add_frame(cmd.EnterMode(1, 30))
    assert [s.state for s in codec.statuses(sim.feed(frame))] == [TaskState.IN_PROGRESS]
    assert [s.state for s in codec.statuses(sim.feed(codec.req_frame(tid)))] == [TaskState.IN_PROGRESS]
    assert sim.wake_at() == mono.now + 1.0
    mono.advance(1.0)
    (status,) = codec.statuses(sim.feed(codec.req_frame(tid)))
    assert status.state == TaskState.RESULT and reply_of(cmd.EnterMode(1, 30), status) == cmd.Ok()
    assert sim.wake_at() is None


def test_adds_queue_behind_a_running_task_and_push_results_in_order(mono: FakeMonotonic) -> None:
    sim = busy_sim(mono)
    codec = HostCodec()
    tids = []
    for request in (cmd.EnterMode(1, 30), cmd.OpenReceipt(0, 1), cmd.Beep()):
        frame, _, tid = codec.add_frame(request, flags=AddFlags.NEED_RESULT)
        assert [s.state for s in codec.statuses(sim.feed(frame))] == [TaskState.PENDING]
        tids.append(tid)
    assert sim.read_async() == b""
    assert codec.statuses(sim.feed(codec.req_frame(tids[1])))[0].state == TaskState.PENDING
    pushed: list[int] = []
    for _ in range(3):
        mono.advance(1.0)
        sim.feed(b"")  # in-process form of what a server does at wake_at() (poll)
        pushed += [decode_device(f.data).tid for f in codec.frames(sim.read_async())]
    assert pushed == tids
    assert sim.device.volatile.receipt is not None  # OpenReceipt really ran, in order


def test_without_busy_mode_the_delay_is_on_the_bytes(mono: FakeMonotonic) -> None:
    sim = Simulator(DeviceConfig(), clock=ManualClock(), timing=WireTiming(command_seconds=1.0), monotonic=mono)
    frame, _, _ = HostCodec().add_frame(cmd.Beep())
    (emission,) = sim.process(frame)
    assert emission.delay == 1.0 and decode_device(HostCodec().frames(emission.data)[0].data).state == TaskState.RESULT


def test_abort_while_busy_drops_the_queue(mono: FakeMonotonic) -> None:
    sim = busy_sim(mono)
    codec = HostCodec()
    for request in (cmd.Beep(), cmd.Beep()):
        frame, _, _ = codec.add_frame(request, flags=AddFlags.NEED_RESULT)
        sim.feed(frame)
    sim.feed(codec.abort_frame())
    mono.advance(5.0)
    sim.feed(b"")
    assert sim.read_async() == b"" and sim.task_buffer.tasks == {} and sim.wake_at() is None
