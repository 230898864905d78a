"""A whole sale through every layer, the way the driver and the simulator will use them.

Host: request -> payload -> ADD -> v3 frame bytes. Device: bytes -> FrameDecoder -> ADD -> request
-> reply -> A1 sync status now, A6 async result later in a frame with packet id F0. Host: decodes both,
acknowledges with C2. The "device" here is a dozen lines of test code, not the simulator.
"""

from __future__ import annotations

import datetime as dt

from protocols.atol import commands as cmd
from protocols.atol import v3
from protocols.atol.v3_buffer import Ack, Add, TaskState, TaskStatus, decode_device, decode_host, encode_device, encode_host


class TinyDevice:
    def __init__(self) -> None:
        self.decoder = v3.FrameDecoder()
        self.mode = cmd.Mode.SELECT
        self.receipt_total = 0
        self.seen: list[object] = []

    def answer(self, request: object) -> object:
        self.seen.append(request)
        if isinstance(request, cmd.EnterMode):
            self.mode = cmd.Mode(request.mode)
            return cmd.Ok()
        if isinstance(request, cmd.RegisterItem):
            if self.mode != cmd.Mode.REGISTRATION:
                return cmd.ErrorReply(0x66)
            self.receipt_total += request.price * request.quantity // 1000
            return cmd.Ok()
        if isinstance(request, cmd.Payment):
            change = max(0, request.amount - self.receipt_total)
            return cmd.PaymentReply(remaining=max(0, self.receipt_total - request.amount), change=change)
        if isinstance(request, cmd.DeviceState):
            return cmd.DeviceStateReply(datetime=dt.datetime(2026, 11, 21, 12, 0), mode=self.mode, receipt_sum=self.receipt_total)
        return cmd.Ok()

    def receive(self, raw: bytes) -> list[bytes]:
        out = []
        for frame in self.decoder.feed(raw):
            assert isinstance(frame, v3.Frame)
            message = decode_host(frame.data)
            if isinstance(message, Add):
                _, request = cmd.decode_request(message.payload)
                reply = cmd.encode_reply(self.answer(request))
                out.append(v3.encode_frame(frame.packet_id, encode_device(TaskStatus(TaskState.PENDING))))
                out.append(
                    v3.encode_frame(
                        v3.ASYNC_PACKET_ID, encode_device(TaskStatus(TaskState.ASYNC_RESULT, message.tid, reply))
                    )
                )
            elif isinstance(message, Ack):
                out.append(v3.encode_frame(frame.packet_id, encode_device(TaskStatus(TaskState.RESULT))))
        return out


def test_sale() -> None:
    device = TinyDevice()
    host_decoder = v3.FrameDecoder()
    packet_id = tid = 0
    sale = [
        cmd.EnterMode(cmd.Mode.REGISTRATION, 30),
        cmd.OpenReceipt(0, cmd.ReceiptType.SELL),
        cmd.RegisterItem(0, "Бананы", price=7315, quantity=1500, tax=1, section=1),
        cmd.Payment(0, cmd.PayType.CASH, 20000),
        cmd.CloseReceipt(0, cmd.PayType.CASH, 0),
        cmd.DeviceState(),
        cmd.LeaveMode(),
    ]
    replies = []
    for request in sale:
        packet_id, tid = v3.next_packet_id(packet_id), v3.next_packet_id(tid)
        wire = v3.encode_frame(packet_id, encode_host(Add(tid, cmd.encode_request(request))))
        # The device's bytes arrive in one lump, as they might on a serial line.
        events = host_decoder.feed(b"".join(device.receive(wire)))
        sync, async_ = (decode_device(e.data) for e in events)  # type: ignore[union-attr]
        assert events[0].packet_id == packet_id and sync.state is TaskState.PENDING  # type: ignore[union-attr]
        assert events[1].packet_id == v3.ASYNC_PACKET_ID and async_.tid == tid  # type: ignore[union-attr]
        replies.append(cmd.decode_reply(cmd.command_code(request), async_.payload))
        packet_id = v3.next_packet_id(packet_id)
        (ack_answer,) = host_decoder.feed(b"".join(device.receive(v3.encode_frame(packet_id, encode_host(Ack(tid))))))
        assert decode_device(ack_answer.data).state is TaskState.RESULT  # type: ignore[union-attr]

    assert device.seen[2] == cmd.RegisterItem(2, "Бананы", 7315, 1500, 1, 0, 0, 1, 1)  # bit 1 per atol4j
    assert replies[3] == cmd.PaymentReply(remaining=0, change=20000 - 10972)
    state = replies[5]
    assert isinstance(state, cmd.DeviceStateReply)
    assert state.mode == cmd.Mode.REGISTRATION and state.receipt_sum == 10972
    assert all(r == cmd.Ok() for i, r in enumerate(replies) if i not in (3, 5))
