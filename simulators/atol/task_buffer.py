"""The v3 task buffer: tasks by id, each kept with its result until the host ACKs it (or ABORTs all).

Why it matters: the task buffer is what lets a driver recover from a lost reply without printing a
receipt twice. After a timeout the host asks `REQ tid` and gets the stored result, or `B3` if the
device never saw the task; re-sending the same `ADD` answers `B2` instead of executing it again
(reference §1.4, "Simulator recommendation"). A power cut empties the buffer (whether a real device
keeps it is unknown, §7.4; the simulator takes the harsher reading so drivers handle it).

Replies the simulator gives (ACK/ABORT replies are unconfirmed in the reference, §7.3; these are the
simulator's documented choices):

- ADD with NEED_RESULT: `A1` (accepted), then an async frame `A6 tid reply` / `A7 tid reply`.
- ADD without NEED_RESULT: the final state with the reply, `A3 reply` / `A4 reply` (the simulator
  executes instantly). A task refused because an earlier one failed: `A5`.
- REQ tid: `A3 reply` / `A4 reply` / `A5` from the table, `B3` for an unknown tid.
- ACK tid: `A3` (empty) and the task is forgotten; `B3` for an unknown tid.
- ABORT: `A3` (empty); the table is cleared.
- ADD reusing a tid still in the table: `B2`; ADD with the table full: `B1`; ADD with no payload: `B4`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.atol.v3_buffer import AddFlags, TaskState, TaskStatus

# Plain ints: `flags & AddFlags.X` builds an IntFlag member on every test (an enum call per task).
_NEED_RESULT = int(AddFlags.NEED_RESULT)
_IGNORE_ERR = int(AddFlags.IGNORE_ERR)


@dataclass(slots=True, init=False)
class Task:
    """One task in the buffer and, once executed, its result."""

    tid: int
    flags: int
    payload: bytes
    state: TaskState
    reply: bytes
    #: The application command code (`<password:2> <code> ...`), read once: faults and timing key on it.
    command: int | None = field(repr=False, compare=False)

    def __init__(self, tid: int, flags: int, payload: bytes, state: TaskState = TaskState.PENDING,
                 reply: bytes = b"") -> None:
        # Written out instead of the generated __init__ + __post_init__: one call less per task.
        self.tid = tid
        self.flags = flags
        self.payload = payload
        self.state = state
        self.reply = reply
        self.command = payload[2] if len(payload) >= 3 else None

    @property
    def need_result(self) -> bool:
        return bool(self.flags & _NEED_RESULT)

    def status(self) -> TaskStatus:
        """What REQ answers for this task."""
        return TaskStatus(self.state, None, self.reply)


class TaskBuffer:
    """Table `tid -> Task`, bounded, in insertion order."""

    def __init__(self, capacity: int = 32, stop_after_error: bool = True) -> None:
        self.capacity = capacity
        self.stop_after_error = stop_after_error
        self.tasks: dict[int, Task] = {}
        #: Tasks that ended in ERROR and are still in the table (cleared by ACK/ABORT): `blocked()` only
        #: looks at the table when there is one, instead of scanning every task on every ADD (the link
        #: tests it before even calling `blocked()`; only this class changes it).
        self.failed: dict[int, Task] = {}

    def add(self, tid: int, flags: int, payload: bytes) -> Task | TaskStatus:
        """Queue a task, or return the status that refuses it (B1/B2/B4)."""
        if not payload:
            return TaskStatus(TaskState.ILLEGAL_VALUE)
        if tid in self.tasks:
            return TaskStatus(TaskState.ALREADY_EXISTS)
        if len(self.tasks) >= self.capacity:
            return TaskStatus(TaskState.OVERFLOW)
        task = Task(tid, int(flags), payload)
        self.tasks[tid] = task
        return task

    def blocked(self) -> bool:
        """True while a failed task without IGNORE_ERR is still in the table."""
        if not self.stop_after_error or not self.failed:
            return False
        return any(t.state == TaskState.ERROR and not t.flags & _IGNORE_ERR for t in self.tasks.values())

    def finish(self, task: Task, ok: bool, reply: bytes) -> None:
        task.state = TaskState.RESULT if ok else TaskState.ERROR
        task.reply = reply
        if not ok:
            self.failed[task.tid] = task

    def stop(self, task: Task) -> None:
        task.state = TaskState.STOPPED
        task.reply = b""

    def req(self, tid: int) -> TaskStatus:
        task = self.tasks.get(tid)
        return task.status() if task is not None else TaskStatus(TaskState.NOT_FOUND)

    def ack(self, tid: int) -> TaskStatus:
        if self.tasks.pop(tid, None) is None:
            return TaskStatus(TaskState.NOT_FOUND)
        self.failed.pop(tid, None)
        return TaskStatus(TaskState.RESULT)

    def abort(self) -> TaskStatus:
        self.tasks.clear()
        self.failed.clear()
        return TaskStatus(TaskState.RESULT)
