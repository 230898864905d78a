"""The device side of the legacy transport v2 (ENQ/ACK/STX…ETX/EOT), for older drivers.

The handshake itself is `protocols.atol.v2.DeviceLink` (sans-I/O); this class only runs its actions:
`Write` goes out through `emit`, `Deliver` executes the command and hands the reply back to the link,
`SetTimer` arms one timer that the simulator checks on every `tick` (v2 has no task buffer: a result
lost on the line is lost, which is exactly why v3 exists). Faults apply to v2 frames as to v3 ones;
the frame carrying a command's answer is marked `final` with its command code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from protocols.atol.v2 import STX, Deliver, DeviceLink, Failed, SetTimer, Write

from .link_v3 import Emit, command_code
from .task_buffer import Task

#: Entries kept in `LinkV2.failures`.
FAILURES_KEEP = 1000


class LinkV2:
    """One v2 device link."""

    def __init__(
        self,
        execute: Callable[[Task], tuple[bool, bytes]],
        emit: Emit,
        monotonic: Callable[[], float],
    ) -> None:
        self.execute = execute
        self.emit = emit
        self.monotonic = monotonic
        self.link = DeviceLink()
        self.timer_due: float | None = None
        self.failures: list[str] = []  # the last failures (bounded: a long-running link fails for ever)
        self._command: int | None = None

    def reset_line(self) -> None:
        """Start the handshake over (the link dropped)."""
        self.link = DeviceLink()
        self.timer_due = None

    def receive(self, data: bytes) -> None:
        self._run(self.link.receive(data))

    def tick(self) -> None:
        """Fire the link timer if it is due."""
        if self.timer_due is not None and self.monotonic() >= self.timer_due:
            self.timer_due = None
            self._run(self.link.timeout())

    def _run(self, actions: Sequence[object]) -> None:
        for action in actions:
            if isinstance(action, Write):
                is_answer = action.data[:1] == bytes((STX,)) and self._command is not None
                self.emit(action.data, False, self._command if is_answer else None, is_answer)
            elif isinstance(action, SetTimer):
                self.timer_due = None if action.seconds is None else self.monotonic() + action.seconds
            elif isinstance(action, Deliver):
                self._command = command_code(action.data)
                _ok, reply = self.execute(Task(0, 0, action.data))
                self._run(self.link.reply(reply))
            elif isinstance(action, Failed):
                self.failures.append(action.reason)
                if len(self.failures) > FAILURES_KEEP:
                    del self.failures[: FAILURES_KEEP // 2]
