"""The device side of transport v3: frames in, task-buffer messages handled, frames out.

Framing rules the device follows (reference §1.1, §1.4):

- every answer carries the packet id of the frame it answers; async results use id F0;
- an empty frame from the host (`LEN = 0`) asks the device to resend its last frame with that id;
- a corrupt frame whose id could be read is answered with an empty frame of that id (a resend request);
  noise and frames whose header was broken are ignored;
- DATA that is not a task-buffer message is answered `B4` (illegal value).

The link does not execute commands itself: `execute(task)` (the simulator) runs the application
payload and returns `(ok, reply)`, and every outgoing frame goes through `emit` (an `Emit`), where the
simulator applies faults and timing. Keeping those outside makes this class a plain protocol rule book.

Busy mode (`busy=True`, opt-in through `WireTiming.busy_device`): a command with processing time keeps
the device busy. The command's effect happens when it starts, but its task stays `A2` (in progress)
for REQ until the time has passed; ADDs arriving meanwhile are queued (`A1`) and run in order; the
result is pushed (F0) or becomes visible to REQ only when the task finishes. Without busy mode the
device answers as soon as a command has run (timing, if any, only delays the bytes).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from protocols.atol.v3 import ASYNC_PACKET_ID, Frame, FrameDecoder, encode_frame
from protocols.atol.v3_buffer import (
    Abort,
    Ack,
    AckAdd,
    Add,
    AddFlags,
    Req,
    TaskState,
    TaskStatus,
    decode_host,
    encode_device,
)
from protocols.errors import ProtocolError

from .task_buffer import Task, TaskBuffer


_NEED_RESULT = int(AddFlags.NEED_RESULT)


def command_code(payload: bytes) -> int | None:
    """The application command code of an ADD payload (`<password:2> <code> ...`)."""
    return payload[2] if len(payload) >= 3 else None


#: `emit(data, is_async, command, final)`: one frame the device is about to send. `command` is the
#: application command of the task the frame is about; `final` is True when the frame carries that
#: task's result (A3/A4/A5 or async A6/A7): command-specific faults hit only those. Plain arguments,
#: not an object: two frames per device task, each built an object the simulator only unpacked.
Emit = Callable[[bytes, bool, int | None, bool], None]


class LinkV3:
    """Decoder + task buffer + the resend cache of one device link."""

    def __init__(
        self,
        buffer: TaskBuffer,
        execute: Callable[[Task], tuple[bool, bytes]],
        emit: Emit,
        *,
        busy: bool = False,
        clock: Callable[[], float] | None = None,
        take_busy_seconds: Callable[[], float] | None = None,
    ) -> None:
        self.buffer = buffer
        self.execute = execute
        self.emit = emit
        self.busy = busy
        self.clock = clock or (lambda: 0.0)
        self.take_busy_seconds = take_busy_seconds or (lambda: 0.0)
        self.queue: deque[Task] = deque()  # busy mode: accepted, not started
        self.current: Task | None = None  # busy mode: started, result not yet visible
        self.busy_until = 0.0
        self._results: dict[int, tuple[bool, bytes]] = {}  # busy mode: results not yet visible
        self.decoder = FrameDecoder()
        self.sent: dict[int, bytes] = {}  # packet id -> last frame sent with it (for resend requests)
        #: (packet id, state) -> the frame of a bare status (no task id, no reply: `A1`, `B3`, an ACK's
        #: `A3`...), encoded once: half of the frames a driver's exchange makes are these.
        self._bare: dict[tuple[int, int], bytes] = {}
        self.frames_in = 0
        self.bad_frames_in = 0

    def reset_line(self) -> None:
        """Forget a half-received frame (the link dropped); the task buffer stays."""
        self.decoder = FrameDecoder()

    def receive(self, data: bytes) -> None:
        for event in self.decoder.feed(data):
            if isinstance(event, Frame):
                self.frames_in += 1
                self._on_frame(event)
            else:
                self.bad_frames_in += 1
                if event.packet_id is not None and event.packet_id != 0xFE:
                    # Ask the host to resend (an empty frame with the same id).
                    self.emit(encode_frame(event.packet_id, b""), False, None, False)

    def _send(self, packet_id: int, status: TaskStatus, task: Task | None = None, final: bool = False) -> None:
        if status.tid is None and not status.payload:
            self._send_bare(packet_id, status.state, task, final)
            return
        frame = encode_frame(packet_id, encode_device(status))
        self.sent[packet_id] = frame
        command = task.command if task is not None else None
        self.emit(frame, packet_id == ASYNC_PACKET_ID, command, final)

    def _send_bare(self, packet_id: int, state: TaskState, task: Task | None = None, final: bool = False) -> None:
        """`_send` of a status without task id or reply, without building a `TaskStatus` for it."""
        key = (packet_id, state)
        frame = self._bare.get(key)
        if frame is None:
            frame = self._bare[key] = encode_frame(packet_id, encode_device(TaskStatus(state)))
        self.sent[packet_id] = frame
        command = task.command if task is not None else None
        self.emit(frame, packet_id == ASYNC_PACKET_ID, command, final)

    def _on_frame(self, frame: Frame) -> None:
        pid = frame.packet_id
        if not frame.data:
            cached = self.sent.get(pid)
            if cached is not None:
                self.emit(cached, pid == ASYNC_PACKET_ID, None, False)
            return
        try:
            message = decode_host(frame.data)
        except ProtocolError:
            self._send(pid, TaskStatus(TaskState.ILLEGAL_VALUE))
            return
        if isinstance(message, Add):
            self._add(pid, message.tid, int(message.flags), message.payload)
        elif isinstance(message, AckAdd):
            self.buffer.ack(message.ack_tid)
            self._add(pid, message.tid, int(message.flags), message.payload)
        elif isinstance(message, Ack):
            self._send(pid, self.buffer.ack(message.tid))
        elif isinstance(message, Req):
            task = self.buffer.tasks.get(message.tid)
            self._send(pid, self.buffer.req(message.tid), task, final=task is not None)
        elif isinstance(message, Abort):
            self.queue.clear()
            self.current = None
            self._results.clear()
            self._send(pid, self.buffer.abort())

    def _add(self, pid: int, tid: int, flags: int, payload: bytes) -> None:
        buffer = self.buffer
        # `blocked()` can only be true while a failed task is in the table: no call otherwise.
        blocked = buffer.blocked() if buffer.failed else False
        result = buffer.add(tid, flags, payload)
        if isinstance(result, TaskStatus):
            self._send(pid, result)
            return
        task = result
        if blocked:
            self.buffer.stop(task)
            self._send(pid, task.status(), task, final=True)
            return
        if self.busy:
            self._add_busy(pid, task)
            return
        if flags & _NEED_RESULT:  # `task.need_result` without the property call
            self._send_bare(pid, TaskState.PENDING, task)
            ok, reply = self.execute(task)
            self.buffer.finish(task, ok, reply)
            state = TaskState.ASYNC_RESULT if ok else TaskState.ASYNC_ERROR
            # `_send(ASYNC_PACKET_ID, ..., final=True)` written out (it has a task id: never a bare
            # status): a call less for the commonest frame, the result of every NEED_RESULT task.
            frame = encode_frame(ASYNC_PACKET_ID, encode_device(TaskStatus(state, tid, reply)))
            self.sent[ASYNC_PACKET_ID] = frame
            self.emit(frame, True, task.command, True)
        else:
            ok, reply = self.execute(task)
            self.buffer.finish(task, ok, reply)
            self._send(pid, task.status(), task, final=True)

    # -- busy mode ---------------------------------------------------------------------------------

    def _add_busy(self, pid: int, task: Task) -> None:
        idle = self.current is None and not self.queue
        self.queue.append(task)
        if task.need_result or not idle:
            self._send(pid, TaskStatus(TaskState.PENDING), task)
            self.tick()
            return
        self.tick()
        if task.state.is_final:
            self._send(pid, task.status(), task, final=True)
        else:
            self._send(pid, TaskStatus(task.state), task)

    def work_pending(self) -> bool:
        return self.current is not None or bool(self.queue)

    def tick(self) -> None:
        """Finish the running task if its time is up, and start queued ones (busy mode)."""
        if not self.busy:
            return
        while True:
            now = self.clock()
            if self.current is not None:
                if now < self.busy_until:
                    return
                self._complete(self.current)
                self.current = None
            if not self.queue:
                return
            task = self.queue.popleft()
            if self.buffer.tasks.get(task.tid) is not task:
                continue  # aborted or acknowledged meanwhile
            if self.buffer.blocked():
                self.buffer.stop(task)
                continue
            ok, reply = self.execute(task)
            self._results[task.tid] = (ok, reply)
            task.state = TaskState.IN_PROGRESS
            self.current = task
            self.busy_until = self.clock() + self.take_busy_seconds()

    def _complete(self, task: Task) -> None:
        ok, reply = self._results.pop(task.tid, (False, b""))
        if self.buffer.tasks.get(task.tid) is not task:
            return
        self.buffer.finish(task, ok, reply)
        if task.need_result:
            state = TaskState.ASYNC_RESULT if ok else TaskState.ASYNC_ERROR
            self._send(ASYNC_PACKET_ID, TaskStatus(state, task.tid, reply), task, final=True)
