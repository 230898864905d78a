"""ATOL transport v2 (legacy): `STX data ETX XOR` frames and the ENQ/ACK/NAK/EOT handshake.

Framing (reference §2, atol4j and dant agree): a DLE is inserted before each data byte equal to ETX or
DLE (STX inside data is *not* stuffed); the check byte is the XOR of every byte after STX up to and
including ETX, stuffing included.

The handshake is modelled as two sans-I/O state machines, `HostLink` and `DeviceLink`. They never read
clocks or ports: the caller feeds them received bytes (`receive`) and timer expiries (`timeout`), and
they answer with a list of actions (`Write`, `SetTimer`, `Deliver`, `Failed`). Timer durations are
data (`Timeouts`, `T5_BY_COMMAND`), so tests drive every branch deterministically, and the driver and
simulator only have to implement "write these bytes" and "call timeout() after N seconds".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Union

from ..errors import ProtocolError

__all__ = [
    "ACK",
    "DLE",
    "ENQ",
    "EOT",
    "ETX",
    "NAK",
    "STX",
    "T5_BY_COMMAND",
    "Deliver",
    "DeviceLink",
    "Failed",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "HostLink",
    "SetTimer",
    "Timeouts",
    "Write",
    "decode_frame",
    "encode_frame",
    "t5_for",
]

STX: Final = 0x02
ETX: Final = 0x03
EOT: Final = 0x04
ENQ: Final = 0x05
ACK: Final = 0x06
NAK: Final = 0x15
DLE: Final = 0x10

MAX_DATA_LEN: Final = 1024


def _xor(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


def encode_frame(data: bytes) -> bytes:
    """`STX <stuffed data> ETX <xor>`."""
    stuffed = data.replace(b"\x10", b"\x10\x10").replace(b"\x03", b"\x10\x03")
    tail = stuffed + b"\x03"
    return b"\x02" + tail + bytes((_xor(tail),))


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes


@dataclass(frozen=True, slots=True)
class FrameError:
    reason: str
    raw: bytes


_HUNT, _DATA, _DLE, _CRC = range(4)


class FrameDecoder:
    """Streaming v2 frame decoder; never raises on input bytes; bounded by `max_data_len`.

    Bytes outside a frame (including control bytes) are not reported: on a v2 line they are the
    handshake, which `HostLink`/`DeviceLink` handle before handing bytes here. Because STX is not
    stuffed, a v2 decoder cannot resync inside a frame; a broken frame ends at its ETX + check byte
    (bad check), or when it grows beyond the cap.
    """

    def __init__(self, max_data_len: int = MAX_DATA_LEN) -> None:
        self.max_data_len = max_data_len
        self._state = _HUNT
        self._raw = bytearray()
        self._data = bytearray()

    @property
    def idle(self) -> bool:
        return self._state == _HUNT

    def reset(self) -> None:
        self._state = _HUNT

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        events: list[Frame | FrameError] = []
        for byte in data:
            state = self._state
            if state == _HUNT:
                if byte == STX:
                    self._state = _DATA
                    self._raw = bytearray(b"\x02")
                    self._data = bytearray()
                continue
            self._raw.append(byte)
            if state == _DATA:
                if byte == DLE:
                    self._state = _DLE
                elif byte == ETX:
                    self._state = _CRC
                else:
                    self._data.append(byte)
            elif state == _DLE:
                self._data.append(byte)
                self._state = _DATA
            else:  # _CRC
                self._state = _HUNT
                if _xor(self._raw[1:-1]) == byte:
                    events.append(Frame(bytes(self._data)))
                else:
                    events.append(FrameError("bad check byte", bytes(self._raw)))
                continue
            if len(self._data) > self.max_data_len:
                events.append(FrameError("too long", bytes(self._raw[:64])))
                self._state = _HUNT
        return events


def decode_frame(raw: bytes) -> bytes:
    """Decode exactly one complete frame; ProtocolError otherwise."""
    decoder = FrameDecoder()
    events = decoder.feed(raw)
    if len(events) != 1 or not isinstance(events[0], Frame) or not decoder.idle or raw[:1] != b"\x02":
        raise ProtocolError("not exactly one valid v2 frame")
    return events[0].data


# --------------------------------------------------------------------------------------------------
# Timeouts as data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Link timeouts in seconds (atol4j `Timeout`: T1..T8 in ms there). Where the sources only give a
    number, the role given here is ours: T3 = device waits for ACK after its frame, T6 = device waits
    for ACK after its ENQ, T8 = waiting for the closing EOT. Lower-case aliases (`t1`..) are provided.
    """

    T1: float = 0.5  # host waits for ACK to its ENQ
    T2: float = 2.0  # wait for STX after ACKing an ENQ
    T3: float = 0.5
    T4: float = 0.5  # host waits for ACK to its frame
    T5: float = 10.0  # host waits for the device's ENQ (answer); per command, see T5_BY_COMMAND
    T6: float = 0.5
    T7: float = 0.5  # back-off after an ENQ collision
    T8: float = 1.0
    enq_retries: int = 5
    frame_retries: int = 10

    t1 = property(lambda self: self.T1)
    t2 = property(lambda self: self.T2)
    t3 = property(lambda self: self.T3)
    t4 = property(lambda self: self.T4)
    t5 = property(lambda self: self.T5)
    t6 = property(lambda self: self.T6)
    t7 = property(lambda self: self.T7)
    t8 = property(lambda self: self.T8)


T5_BY_COMMAND: Final[dict[int, float]] = {
    0x6B: 10.0,
    0x8D: 20.0,
    0x8E: 20.0,
    0xA7: 20.0,
    0x4A: 20.0,
    0x5A: 40.0,
    0x91: 45.0,
    0xA6: 50.0,
    0xE6: 50.0,
    0xEA: 50.0,
    0xEB: 50.0,
    0xA8: 120.0,
    0xAB: 120.0,
}
"""Longer answer timeouts per command code (reference §2) [one source]."""


def t5_for(command: int | None, timeouts: Timeouts = Timeouts()) -> float:
    return T5_BY_COMMAND.get(command, timeouts.t5) if command is not None else timeouts.t5


# --------------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Write:
    """Send these bytes."""

    data: bytes


@dataclass(frozen=True, slots=True)
class SetTimer:
    """(Re)arm the single link timer; `None` cancels it. Call `timeout()` when it fires."""

    seconds: float | None


@dataclass(frozen=True, slots=True)
class Deliver:
    """A complete payload arrived (host: the device's answer; device: the host's command)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    """The exchange was given up; `reason` says which step failed."""

    reason: str


Action = Union[Write, SetTimer, Deliver, Failed]


class _State(Enum):
    IDLE = "idle"
    SEND_ENQ = "sent ENQ, waiting ACK"
    BACKOFF = "ENQ collision back-off"
    SEND_FRAME = "sent frame, waiting ACK"
    WAIT_ANSWER_ENQ = "waiting for the answer's ENQ"
    RECV_FRAME = "receiving frame"
    WAIT_EOT = "waiting EOT"


_ENQ: Final = bytes((ENQ,))
_ACK: Final = bytes((ACK,))
_NAK: Final = bytes((NAK,))
_EOT: Final = bytes((EOT,))


@dataclass
class _Link:
    timeouts: Timeouts = field(default_factory=Timeouts)
    state: _State = _State.IDLE
    _frame: bytes = b""
    _tries: int = 0
    _decoder: FrameDecoder = field(default_factory=FrameDecoder)

    @property
    def idle(self) -> bool:
        return self.state is _State.IDLE

    # --- sending side (shared): ENQ -> ACK -> frame -> ACK -> EOT --------------------------------

    def _begin_send(self, payload: bytes, enq_timeout: float) -> list[Action]:
        self._frame = encode_frame(payload)
        self._tries = 1
        self.state = _State.SEND_ENQ
        return [Write(_ENQ), SetTimer(enq_timeout)]

    def _retry_enq(self, enq_timeout: float) -> list[Action]:
        if self._tries >= self.timeouts.enq_retries:
            self.state = _State.IDLE
            return [Write(_EOT), SetTimer(None), Failed("no ACK to ENQ")]
        self._tries += 1
        self.state = _State.SEND_ENQ
        return [Write(_ENQ), SetTimer(enq_timeout)]

    def _send_frame(self, ack_timeout: float) -> list[Action]:
        self._tries = 1
        self.state = _State.SEND_FRAME
        return [Write(self._frame), SetTimer(ack_timeout)]

    def _resend_frame(self, ack_timeout: float) -> list[Action]:
        if self._tries >= self.timeouts.frame_retries:
            self.state = _State.IDLE
            return [Write(_EOT), SetTimer(None), Failed("frame not acknowledged")]
        self._tries += 1
        return [Write(self._frame), SetTimer(ack_timeout)]

    # --- receiving side (shared): ENQ -> ACK -> frame -> ACK/NAK -> EOT --------------------------

    def _accept_enq(self) -> list[Action]:
        self._decoder.reset()
        self._tries = 0
        self.state = _State.RECV_FRAME
        return [Write(_ACK), SetTimer(self.timeouts.t2)]

    def _receive_frame_bytes(self, data: bytes) -> list[Action]:
        actions: list[Action] = []
        for event in self._decoder.feed(data):
            if self.state is not _State.RECV_FRAME:
                break
            if isinstance(event, Frame):
                self.state = _State.WAIT_EOT
                actions += [Write(_ACK), Deliver(event.data), SetTimer(self.timeouts.t8)]
            else:
                actions += self._nak()
        return actions

    def _nak(self) -> list[Action]:
        self._tries += 1
        if self._tries > self.timeouts.frame_retries:
            self.state = _State.IDLE
            return [SetTimer(None), Failed("too many bad frames")]
        self._decoder.reset()
        return [Write(_NAK), SetTimer(self.timeouts.t2)]


class HostLink(_Link):
    """The host (driver) side: `send(payload, command)` then feed `receive`/`timeout`.

    A completed exchange yields `Deliver(answer payload)`; a failed one yields `Failed(reason)`. The
    link is then idle again (after the device's EOT, or T8 without it).
    """

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        super().__init__(timeouts or Timeouts())
        self._t5 = self.timeouts.t5

    def send(self, payload: bytes, command: int | None = None) -> list[Action]:
        if self.state is not _State.IDLE:
            raise ProtocolError(f"link busy ({self.state.value})")
        if command is None and len(payload) >= 3:
            command = payload[2]  # `<password:2> <code> ...`
        self._t5 = t5_for(command, self.timeouts)
        return self._begin_send(payload, self.timeouts.t1)

    def receive(self, data: bytes) -> list[Action]:
        actions: list[Action] = []
        for i, byte in enumerate(data):
            state = self.state
            if state is _State.RECV_FRAME:
                actions += self._receive_frame_bytes(data[i : i + 1])
                continue
            if state is _State.SEND_ENQ:
                if byte == ACK:
                    actions += self._send_frame(self.timeouts.t4)
                elif byte == ENQ:  # collision: the device wants to talk; back off
                    self.state = _State.BACKOFF
                    actions.append(SetTimer(self.timeouts.t7))
                elif byte == NAK:
                    actions += self._retry_enq(self.timeouts.t1)
            elif state is _State.SEND_FRAME:
                if byte == ACK:
                    self.state = _State.WAIT_ANSWER_ENQ
                    actions += [Write(_EOT), SetTimer(self._t5)]
                elif byte == NAK:
                    actions += self._resend_frame(self.timeouts.t4)
            elif state is _State.WAIT_ANSWER_ENQ:
                if byte == ENQ:
                    actions += self._accept_enq()
            elif state is _State.WAIT_EOT:
                if byte == EOT:
                    self.state = _State.IDLE
                    actions.append(SetTimer(None))
                elif byte == ENQ:  # the device resends (it missed our ACK)
                    actions += self._accept_enq()
            # IDLE / BACKOFF: stray bytes are ignored.
        return actions

    def timeout(self) -> list[Action]:
        state = self.state
        if state in (_State.SEND_ENQ, _State.BACKOFF):
            return self._retry_enq(self.timeouts.t1)
        if state is _State.SEND_FRAME:
            return self._resend_frame(self.timeouts.t4)
        if state is _State.WAIT_ANSWER_ENQ:
            self.state = _State.IDLE
            return [SetTimer(None), Failed("no answer (T5)")]
        if state is _State.RECV_FRAME:
            return self._nak()
        if state is _State.WAIT_EOT:  # the answer was delivered already
            self.state = _State.IDLE
            return [SetTimer(None)]
        return []


class DeviceLink(_Link):
    """The device (simulator) side: feed `receive`/`timeout`; a command arrives as `Deliver`;
    answer it with `reply(payload)`. A reply given before the host's EOT is sent after it.
    """

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        super().__init__(timeouts or Timeouts())
        self._pending: bytes | None = None

    def reply(self, payload: bytes) -> list[Action]:
        if self.state is _State.WAIT_EOT:
            self._pending = payload
            return []
        if self.state is not _State.IDLE:
            raise ProtocolError(f"link busy ({self.state.value})")
        return self._begin_send(payload, self.timeouts.t6)

    def _after_eot(self) -> list[Action]:
        self.state = _State.IDLE
        if self._pending is not None:
            payload, self._pending = self._pending, None
            return self._begin_send(payload, self.timeouts.t6)
        return [SetTimer(None)]

    def receive(self, data: bytes) -> list[Action]:
        actions: list[Action] = []
        for i, byte in enumerate(data):
            state = self.state
            if state is _State.RECV_FRAME:
                actions += self._receive_frame_bytes(data[i : i + 1])
                continue
            if state is _State.IDLE:
                if byte == ENQ:
                    actions += self._accept_enq()
            elif state is _State.WAIT_EOT:
                if byte == EOT:
                    actions += self._after_eot()
                elif byte == ENQ:  # host missed our ACK and starts over
                    actions += self._accept_enq()
            elif state is _State.SEND_ENQ:
                if byte == ACK:
                    actions += self._send_frame(self.timeouts.t3)
                elif byte == ENQ:  # collision: the host wins, we receive first
                    actions += self._accept_enq()
                elif byte == NAK:
                    actions += self._retry_enq(self.timeouts.t6)
            elif state is _State.SEND_FRAME:
                if byte == ACK:
                    self.state = _State.IDLE
                    actions += [Write(_EOT), SetTimer(None)]
                elif byte == NAK:
                    actions += self._resend_frame(self.timeouts.t3)
        return actions

    def timeout(self) -> list[Action]:
        state = self.state
        if state is _State.SEND_ENQ:
            return self._retry_enq(self.timeouts.t6)
        if state is _State.SEND_FRAME:
            return self._resend_frame(self.timeouts.t3)
        if state is _State.RECV_FRAME:
            return self._nak()
        if state is _State.WAIT_EOT:
            return self._after_eot()
        return []
