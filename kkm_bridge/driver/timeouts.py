"""How long the driver waits, as data.

Per-command result timeouts are the reference's T5 table (atol-protocol.md §2, "Longer T5 values per
command", one source): the time a device may take to *execute* a command. The same figures apply on
v3: they bound the wait for a task's result, not for the transport acknowledgement.

Link timings are ours: how quickly a missing synchronous status is retransmitted, how quickly a
missing result is polled with REQ. They are deliberately short, because both are safe to repeat
(a duplicate ADD answers B2, a REQ changes nothing) and a lost frame should cost milliseconds, not
the 10 s of a T5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Final

from protocols.atol.v2 import T5_BY_COMMAND as PROTOCOL_T5_BY_COMMAND

DEFAULT_T5: Final = 10.0

# Command code -> seconds to wait for its result: the reference's T5 table, defined once in protocols.
T5_BY_COMMAND: Final[Mapping[int, float]] = PROTOCOL_T5_BY_COMMAND


@dataclass(frozen=True)
class Timeouts:
    """Every wait of the driver in one place (seconds)."""

    #: Result of one task, per command code; anything else gets `default_result`.
    by_command: dict[int, float] = field(default_factory=lambda: dict(T5_BY_COMMAND))
    default_result: float = DEFAULT_T5
    #: Link silence after which a frame with no synchronous answer is sent again.
    sync_reply: float = 0.3
    #: Link silence after which a task with no result yet is polled with REQ.
    result_poll: float = 0.3
    #: How many times one frame is retransmitted before the link gives up (LinkTimeout).
    retries: int = 5
    #: Opening the transport.
    connect: float = 5.0

    def for_command(self, code: int) -> float:
        return self.by_command.get(code, self.default_result)


DEFAULT_TIMEOUTS: Final = Timeouts()
