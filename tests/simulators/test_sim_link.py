"""Transport v3 task-buffer semantics on the device side (reference §1.2-1.4)."""

from __future__ import annotations

from protocols.atol import commands as cmd
from protocols.atol.v3 import Frame, FrameError, encode_frame
from protocols.atol.v3_buffer import AddFlags, TaskState, decode_device
from simulators.atol import DeviceConfig, Simulator
from simulators.atol.testing import HostCodec, reply_of


def one(codec: HostCodec, data: bytes):  # type: ignore[no-untyped-def]
    statuses = codec.statuses(data)
    assert len(statuses) == 1, statuses
    return statuses[0]


def test_reply_carries_the_packet_id_and_req_answers_from_the_table(sim: Simulator) -> None:
    codec = HostCodec()
    frame, pid, tid = codec.add_frame(cmd.DeviceState())
    frames = codec.frames(sim.feed(frame))
    assert [f.packet_id for f in frames] == [pid]
    first = decode_device(frames[0].data)
    assert first.state == TaskState.RESULT
    again = one(codec, sim.feed(codec.req_frame(tid)))
    assert again.state == TaskState.RESULT and again.payload == first.payload
    assert one(codec, sim.feed(codec.ack_frame(tid))).state == TaskState.RESULT
    assert one(codec, sim.feed(codec.req_frame(tid))).state == TaskState.NOT_FOUND
    assert one(codec, sim.feed(codec.ack_frame(tid))).state == TaskState.NOT_FOUND


def test_reused_live_tid_is_refused_not_executed_twice(sim: Simulator) -> None:
    codec = HostCodec()
    frame, _, tid = codec.add_frame(cmd.EnterMode(1, 30))
    assert one(codec, sim.feed(frame)).state == TaskState.RESULT
    frame, _, _ = codec.add_frame(cmd.OpenShift(), tid=5)
    assert one(codec, sim.feed(frame)).state == TaskState.RESULT
    frame, _, _ = codec.add_frame(cmd.OpenShift(), tid=5)
    assert one(codec, sim.feed(frame)).state == TaskState.ALREADY_EXISTS
    assert [d.kind for d in sim.documents] == ["shift_open"]
    sim.feed(codec.ack_frame(5))
    frame, _, _ = codec.add_frame(cmd.DeviceState(), tid=5)
    assert one(codec, sim.feed(frame)).state == TaskState.RESULT


def test_full_buffer_answers_b1(clock) -> None:  # type: ignore[no-untyped-def]
    sim = Simulator(DeviceConfig(task_buffer_size=3), clock=clock)
    codec = HostCodec()
    for tid in (1, 2, 3):
        frame, _, _ = codec.add_frame(cmd.Beep(), tid=tid)
        assert one(codec, sim.feed(frame)).state == TaskState.RESULT
    frame, _, _ = codec.add_frame(cmd.Beep(), tid=4)
    assert one(codec, sim.feed(frame)).state == TaskState.OVERFLOW
    assert one(codec, sim.feed(codec.abort_frame())).state == TaskState.RESULT
    assert sim.task_buffer.tasks == {}
    assert one(codec, sim.feed(frame)).state == TaskState.RESULT


def test_need_result_pushes_async_f0(sim: Simulator) -> None:
    codec = HostCodec()
    frame, pid, tid = codec.add_frame(cmd.ShortState(), flags=AddFlags.NEED_RESULT)
    sync = codec.frames(sim.feed(frame))
    assert len(sync) == 1 and sync[0].packet_id == pid and decode_device(sync[0].data).state == TaskState.PENDING
    pushed = codec.frames(sim.read_async())
    assert len(pushed) == 1 and pushed[0].packet_id == 0xF0
    status = decode_device(pushed[0].data)
    assert status.state == TaskState.ASYNC_RESULT and status.tid == tid
    assert reply_of(cmd.ShortState(), status) == cmd.ShortStateReply()
    assert sim.read_async() == b""
    # REQ still answers from the table until ACK.
    assert one(codec, sim.feed(codec.req_frame(tid))).state == TaskState.RESULT


def test_async_error_and_stop_after_error(sim: Simulator) -> None:
    codec = HostCodec()
    frame, _, tid = codec.add_frame(cmd.OpenReceipt(0, 1), flags=AddFlags.NEED_RESULT)  # mode 0: refused
    sim.feed(frame)
    status = decode_device(codec.frames(sim.read_async())[0].data)
    assert status.state == TaskState.ASYNC_ERROR and status.tid == tid
    assert reply_of(cmd.OpenReceipt(0, 1), status) == cmd.ErrorReply(0x66)
    frame, _, tid2 = codec.add_frame(cmd.Beep())
    assert one(codec, sim.feed(frame)).state == TaskState.STOPPED
    sim.feed(codec.ack_frame(tid))
    sim.feed(codec.ack_frame(tid2))
    frame, _, _ = codec.add_frame(cmd.Beep())
    assert one(codec, sim.feed(frame)).state == TaskState.RESULT


def test_abort_and_ack_end_the_stop_after_error(sim: Simulator) -> None:
    # The buffer tracks its failed tasks instead of scanning the table on every ADD: every way a failed
    # task leaves the table (ABORT; ACK, then the same tid reused) must lift the stop.
    codec = HostCodec()
    frame, _, tid = codec.add_frame(cmd.OpenReceipt(0, 1))  # mode 0: refused
    assert one(codec, sim.feed(frame)).state == TaskState.ERROR
    frame, _, _ = codec.add_frame(cmd.Beep())
    assert one(codec, sim.feed(frame)).state == TaskState.STOPPED
    assert one(codec, sim.feed(codec.abort_frame())).state == TaskState.RESULT
    frame, _, _ = codec.add_frame(cmd.Beep())
    assert one(codec, sim.feed(frame)).state == TaskState.RESULT
    frame, _, tid = codec.add_frame(cmd.OpenReceipt(0, 1), tid=9)
    assert one(codec, sim.feed(frame)).state == TaskState.ERROR
    sim.feed(codec.ack_frame(9))
    frame, _, _ = codec.add_frame(cmd.Beep(), tid=9)
    assert one(codec, sim.feed(frame)).state == TaskState.RESULT
    frame, _, _ = codec.add_frame(cmd.Beep())
    assert one(codec, sim.feed(frame)).state == TaskState.RESULT


def test_ignore_err_lets_later_tasks_run(sim: Simulator) -> None:
    codec = HostCodec()
    frame, _, _ = codec.add_frame(cmd.OpenReceipt(0, 1), flags=AddFlags.IGNORE_ERR)
    assert one(codec, sim.feed(frame)).state == TaskState.ERROR
    frame, _, _ = codec.add_frame(cmd.Beep())
    assert one(codec, sim.feed(frame)).state == TaskState.RESULT


def test_empty_frame_asks_for_a_resend(sim: Simulator) -> None:
    codec = HostCodec()
    frame, pid, _ = codec.add_frame(cmd.DeviceState())
    answer = sim.feed(frame)
    assert sim.feed(encode_frame(pid, b"")) == answer
    assert sim.feed(encode_frame(0x77, b"")) == b""  # nothing was sent with that id


def test_corrupt_frame_is_answered_with_an_empty_frame_of_its_id(sim: Simulator) -> None:
    codec = HostCodec()
    frame, pid, _ = codec.add_frame(cmd.DeviceState())
    broken = bytearray(frame)
    broken[-1] ^= 0x01  # CRC
    events = codec.frames(sim.feed(bytes(broken)))
    assert events == [Frame(pid, b"")]
    # Noise without a readable header is ignored.
    assert sim.feed(b"\x01\x02\x03") == b""


def test_garbage_inside_a_valid_frame_is_b4(sim: Simulator) -> None:
    codec = HostCodec()
    assert one(codec, sim.feed(encode_frame(3, b"\xc9\x01"))).state == TaskState.ILLEGAL_VALUE
    assert one(codec, sim.feed(encode_frame(4, b"\xc1\x00\x07"))).state == TaskState.ILLEGAL_VALUE  # no payload


def test_ack_add_acknowledges_and_adds(sim: Simulator) -> None:
    from protocols.atol.v3_buffer import AckAdd, encode_host

    codec = HostCodec()
    frame, _, tid = codec.add_frame(cmd.Beep())
    sim.feed(frame)
    payload = cmd.encode_request(cmd.ShortState())
    answer = sim.feed(encode_frame(9, encode_host(AckAdd(tid, 40, payload, AddFlags.NONE))))
    assert one(codec, answer).state == TaskState.RESULT
    assert list(sim.task_buffer.tasks) == [40]


def test_frames_split_across_feeds(sim: Simulator) -> None:
    codec = HostCodec()
    frame, _, _ = codec.add_frame(cmd.DeviceState())
    out = b"".join(sim.feed(frame[i : i + 1]) for i in range(len(frame)))
    assert one(codec, out).state == TaskState.RESULT
    assert not any(isinstance(e, FrameError) for e in codec.frames(b""))
