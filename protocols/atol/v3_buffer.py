"""The v3 task-buffer layer: what travels inside a v3 frame's DATA (reference §1.2-1.4).

Host -> device: ADD `C1 flags tid payload`, ACK `C2 tid`, REQ `C3 tid`, ABORT `C4`,
ACK+ADD `C5 ack_tid flags tid payload` (C5 layout [unconfirmed — verify on hardware]).
Device -> host: a status byte (A1..A8, B1..B4) followed by the application reply; for the async
results A6/A7 (sent in frames with packet id F0) the task id comes first: `A6 tid reply`.

`payload` is always the application payload (`<password:2 BCD> <code> <params>`, see `commands`); this
module does not look inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Final

from ..errors import ProtocolError

__all__ = [
    "ADD",
    "ABORT",
    "ACK",
    "ACK_ADD",
    "REQ",
    "Abort",
    "Ack",
    "AckAdd",
    "Add",
    "AddFlags",
    "HostMessage",
    "Req",
    "TaskState",
    "TaskStatus",
    "decode_device",
    "decode_host",
    "encode_device",
    "encode_host",
]

ADD: Final = 0xC1
ACK: Final = 0xC2
REQ: Final = 0xC3
ABORT: Final = 0xC4
ACK_ADD: Final = 0xC5


class AddFlags(IntFlag):
    """ADD flag bits (atol4j constant names; only NEED_RESULT's behaviour is confirmed)."""

    NONE = 0
    NEED_RESULT = 0x01  # the result is pushed later as A6/A7 in a frame with id F0
    IGNORE_ERR = 0x02  # later tasks still run if this one fails [unconfirmed — verify on hardware]
    WAIT_ASYNC_DATA = 0x04  # "wait for asynchronous data" [unconfirmed — verify on hardware]


def _byte(name: str, value: int) -> int:
    if type(value) is int and 0 <= value <= 0xFF:  # the usual case, without the isinstance checks
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ProtocolError(f"{name} must be a byte, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Add:
    """Queue a task: `C1 flags tid payload`."""

    tid: int
    payload: bytes
    flags: int = AddFlags.NEED_RESULT

    def __init__(self, tid: int, payload: bytes, flags: int = AddFlags.NEED_RESULT) -> None:
        # The slots set through their descriptors: the generated frozen __init__ calls object.__setattr__
        # per field (~1.6x the cost); an Add is made per task on either side.
        _set_add_tid(self, tid)
        _set_add_payload(self, payload)
        _set_add_flags(self, flags)


_set_add_tid, _set_add_payload, _set_add_flags = (  # type: ignore[attr-defined]
    Add.tid.__set__, Add.payload.__set__, Add.flags.__set__  # type: ignore[attr-defined]
)


@dataclass(frozen=True, slots=True)
class Ack:
    """The host has the result of task `tid`; the device may forget it: `C2 tid`."""

    tid: int


@dataclass(frozen=True, slots=True)
class Req:
    """Ask for the state/result of task `tid`: `C3 tid`."""

    tid: int


@dataclass(frozen=True, slots=True)
class Abort:
    """Cancel all tasks and clear the buffer: `C4`."""


@dataclass(frozen=True, slots=True)
class AckAdd:
    """ACK `ack_tid` and ADD `tid` in one packet: `C5 ack_tid flags tid payload` [unconfirmed layout]."""

    ack_tid: int
    tid: int
    payload: bytes
    flags: int = AddFlags.NEED_RESULT


HostMessage = Add | Ack | Req | Abort | AckAdd


def encode_host(msg: HostMessage) -> bytes:
    """Host message -> frame DATA."""
    if isinstance(msg, Add):
        tid, flags = msg.tid, msg.flags
        if flags is _NEED_RESULT and type(tid) is int and 0 <= tid <= 0xFF:  # the usual ADD, checked inline
            return bytes((ADD, 1, tid)) + msg.payload
        return bytes((ADD, _byte("flags", int(flags)), _byte("tid", tid))) + msg.payload
    if isinstance(msg, Ack):
        return bytes((ACK, _byte("tid", msg.tid)))
    if isinstance(msg, Req):
        return bytes((REQ, _byte("tid", msg.tid)))
    if isinstance(msg, Abort):
        return bytes((ABORT,))
    if isinstance(msg, AckAdd):
        head = (ACK_ADD, _byte("ack_tid", msg.ack_tid), _byte("flags", int(msg.flags)), _byte("tid", msg.tid))
        return bytes(head) + msg.payload
    raise ProtocolError(f"not a host message: {msg!r}")


_FLAGS_BY_BYTE: dict[int, AddFlags] = {}
_NEED_RESULT: Final = AddFlags.NEED_RESULT


def _add_flags(value: int) -> AddFlags:
    """`AddFlags(value)`, remembered: an IntFlag lookup through EnumType.__call__ costs more than the rest
    of decoding an ADD."""
    flags = _FLAGS_BY_BYTE.get(value)
    if flags is None:
        flags = _FLAGS_BY_BYTE[value] = AddFlags(value)
    return flags


def decode_host(data: bytes) -> HostMessage:
    """Frame DATA -> host message; ProtocolError on an unknown code or a wrong length."""
    if not data:
        raise ProtocolError("empty task-buffer message (an empty frame is a resend request)")
    code = data[0]
    n = len(data)
    if code == ADD and n >= 3:
        flags = _FLAGS_BY_BYTE.get(data[1])  # (`_add_flags` without its call, once it has met the value)
        if flags is None:
            flags = _add_flags(data[1])
        # (positional, and no copy of a slice of bytes: one ADD per task)
        return Add(data[2], data[3:] if type(data) is bytes else bytes(data[3:]), flags)
    if code == ACK and n == 2:
        return Ack(data[1])
    if code == REQ and n == 2:
        return Req(data[1])
    if code == ABORT and n == 1:
        return Abort()
    if code == ACK_ADD and n >= 4:
        return AckAdd(ack_tid=data[1], tid=data[3], payload=bytes(data[4:]), flags=_add_flags(data[2]))
    raise ProtocolError(f"bad task-buffer message: {bytes(data[:8]).hex(' ')} ({n} bytes)")


class TaskState(IntEnum):
    """Device status codes (atol4j `Status.java`)."""

    PENDING = 0xA1
    IN_PROGRESS = 0xA2
    RESULT = 0xA3
    ERROR = 0xA4
    STOPPED = 0xA5
    ASYNC_RESULT = 0xA6
    ASYNC_ERROR = 0xA7
    WAITING = 0xA8
    OVERFLOW = 0xB1
    ALREADY_EXISTS = 0xB2
    NOT_FOUND = 0xB3
    ILLEGAL_VALUE = 0xB4

    @property
    def has_tid(self) -> bool:
        """Only the async results carry the task id (reference §1.3)."""
        return self in _WITH_TID

    @property
    def is_final(self) -> bool:
        """The task has finished (its reply, if any, is in the payload)."""
        return self in _FINAL


_FINAL: Final = frozenset(
    {TaskState.RESULT, TaskState.ERROR, TaskState.STOPPED, TaskState.ASYNC_RESULT, TaskState.ASYNC_ERROR}
)
_STATES: Final = {s.value: s for s in TaskState}
_WITH_TID: Final = frozenset({TaskState.ASYNC_RESULT.value, TaskState.ASYNC_ERROR.value})  # `has_tid`, by value


@dataclass(slots=True)
class TaskStatus:
    """A device status message. `tid` is set only for A6/A7; `payload` is the application reply."""

    state: TaskState
    tid: int | None = None
    payload: bytes = b""


def encode_device(status: TaskStatus) -> bytes:
    """Device status -> frame DATA."""
    state = status.state
    if type(state) is not TaskState:
        state = TaskState(state)
    if state in _WITH_TID:
        if status.tid is None:
            raise ProtocolError(f"{state.name} needs a task id")
        return bytes((state, _byte("tid", status.tid))) + status.payload
    if status.tid is not None:
        raise ProtocolError(f"{state.name} carries no task id")
    return bytes((state,)) + status.payload


def decode_device(data: bytes) -> TaskStatus:
    """Frame DATA -> device status; ProtocolError on an unknown status byte."""
    if not data:
        raise ProtocolError("empty device status (an empty frame is a resend request)")
    first = data[0]
    state = _STATES.get(first)
    if state is None:
        raise ProtocolError(f"unknown task status byte {first:#04x}")
    exact = type(data) is bytes  # (a slice of bytes is bytes already: no copy call per status)
    if first in _WITH_TID:
        if len(data) < 2:
            raise ProtocolError(f"{state.name} without a task id")
        return TaskStatus(state, data[1], data[2:] if exact else bytes(data[2:]))
    return TaskStatus(state, None, data[1:] if exact else bytes(data[1:]))
