"""A minimal v3 host for talking to the simulator in tests and from a Python prompt.

This is deliberately not a driver (no retries, no recovery): it builds request frames with the
protocol codecs and splits answer bytes back into frames and statuses, so a test can say
`host.add(cmd.OpenShift())` and look at exactly what came back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocols.atol import commands as cmd
from protocols.atol.v3 import Frame, FrameDecoder, FrameError, encode_frame
from protocols.atol.v3_buffer import Abort, Ack, Add, AddFlags, Req, TaskStatus, decode_device, encode_host


@dataclass
class HostCodec:
    """Packet-id and task-id bookkeeping plus encode/decode helpers."""

    password: int = 0
    packet_id: int = 0
    task_id: int = 0
    decoder: FrameDecoder = field(default_factory=FrameDecoder)

    def next_packet(self) -> int:
        self.packet_id = (self.packet_id + 1) % 0xE0
        return self.packet_id

    def next_task(self) -> int:
        self.task_id = (self.task_id + 1) % 0xE0
        return self.task_id

    def add_frame(self, request: Any, flags: int = AddFlags.NONE, tid: int | None = None,
                  pid: int | None = None) -> tuple[bytes, int, int]:
        """(frame, packet id, task id) for an ADD of `request`."""
        tid = self.next_task() if tid is None else tid
        pid = self.next_packet() if pid is None else pid
        payload = cmd.encode_request(request, self.password)
        return encode_frame(pid, encode_host(Add(tid, payload, flags))), pid, tid

    def raw_add_frame(self, payload: bytes, flags: int = AddFlags.NONE, tid: int | None = None) -> bytes:
        tid = self.next_task() if tid is None else tid
        return encode_frame(self.next_packet(), encode_host(Add(tid, payload, flags)))

    def ack_frame(self, tid: int) -> bytes:
        return encode_frame(self.next_packet(), encode_host(Ack(tid)))

    def req_frame(self, tid: int) -> bytes:
        return encode_frame(self.next_packet(), encode_host(Req(tid)))

    def abort_frame(self) -> bytes:
        return encode_frame(self.next_packet(), encode_host(Abort()))

    def frames(self, data: bytes) -> list[Frame | FrameError]:
        return self.decoder.feed(data)

    def statuses(self, data: bytes) -> list[TaskStatus]:
        """Decode every complete valid non-empty frame in `data` into a task status."""
        return [decode_device(f.data) for f in self.frames(data) if isinstance(f, Frame) and f.data]


def reply_of(request: Any, status: TaskStatus) -> Any:
    """Decode the application reply carried by a final status for `request`."""
    return cmd.decode_reply(cmd.command_code(request), status.payload)


class InProcessHost:
    """Drives a `Simulator` in-process: `call(request)` -> decoded reply (ADD without NEED_RESULT + ACK)."""

    def __init__(self, simulator: Any, password: int = 0) -> None:
        self.sim = simulator
        self.codec = HostCodec(password=password)

    def call(self, request: Any) -> Any:
        frame, _, tid = self.codec.add_frame(request)
        statuses = self.codec.statuses(self.sim.feed(frame))
        if len(statuses) != 1:
            raise AssertionError(f"expected one status, got {statuses!r}")
        self.codec.statuses(self.sim.feed(self.codec.ack_frame(tid)))
        return reply_of(request, statuses[0])

    def call_ok(self, request: Any) -> Any:
        reply = self.call(request)
        if isinstance(reply, cmd.ErrorReply):
            raise AssertionError(f"{type(request).__name__} failed: {reply}")
        return reply
