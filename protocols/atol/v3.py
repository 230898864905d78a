"""ATOL transport v3 framing: `FE LENlo LENhi ID DATA CRC` with byte stuffing (reference §1.1).

- LEN counts *unescaped* DATA bytes and is sent as two 7-bit groups, low first (max 16383).
- DATA and the CRC byte are stuffed: `FE -> FD EE`, `FD -> FD ED`. STX, LEN and ID are never stuffed.
- CRC-8 poly 0x31, init 0xFF, MSB first, no reflection, no final XOR (CRC-8/NRSC-5) over ID + unescaped
  DATA; LEN is not covered.

Why the decoder is built the way it is: after stuffing, 0xFE can only ever be a frame start. LEN bytes
are < 0x80 and the ID is never 0xFE either (`encode_frame` refuses it), so a 0xFE seen anywhere inside a
candidate frame means the candidate was broken and a new frame starts right there. The decoder therefore
treats every 0xFE as "resync here", which gives a strong guarantee (tested): every valid frame in the
stream is recovered, whatever garbage surrounds it, and the events do not depend on how the stream was
chunked.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final

from ..errors import ProtocolError

__all__ = [
    "ASYNC_PACKET_ID",
    "ESC",
    "MAX_DATA_LEN",
    "STX",
    "TESC",
    "TSTX",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "crc8",
    "decode_frame",
    "is_resend_request",
    "next_packet_id",
    "resend_request",
    "encode_frame",
    "escape",
    "unescape",
]

STX: Final = 0xFE
ESC: Final = 0xFD
TSTX: Final = 0xEE
TESC: Final = 0xED
ASYNC_PACKET_ID: Final = 0xF0
"""Packet id of frames the device sends on its own (A6/A7 async results)."""
MAX_DATA_LEN: Final = 0x3FFF
"""The largest LEN the 14-bit length field can carry."""


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _make_crc_table()
_ONE_BYTE: Final = tuple(bytes((i,)) for i in range(256))  # bytes((i,)) without building a tuple per call
_HEADER: Final = struct.Struct("BBBB").pack  # STX, LEN lo, LEN hi, ID (each a byte, never stuffed)


def crc8(data: bytes, crc: int = 0xFF) -> int:
    """CRC-8/NRSC-5 (poly 0x31, init 0xFF). `crc8(b"123456789") == 0xF7`."""
    table = _CRC_TABLE
    for byte in data:
        crc = table[crc ^ byte]
    return crc


def escape(data: bytes) -> bytes:
    """Stuff FE/FD. FD must be replaced first, or the FD of a fresh `FD EE` would be stuffed again."""
    return data.replace(b"\xfd", b"\xfd\xed").replace(b"\xfe", b"\xfd\xee")


def unescape(data: bytes) -> bytes:
    """Inverse of `escape`; ProtocolError on a dangling or unknown escape or a raw FE.

    `FD EE` is replaced before `FD ED`: in valid input every FD starts an escape, so after the first pass
    no new `FD ED` pair can appear, and the result is exact. Validity check: each replacement consumes
    exactly one FD, so the input was well formed iff the output lost exactly as many bytes as it had FDs.
    """
    if b"\xfe" in data:
        raise ProtocolError("unescaped FE inside frame data")
    out = data.replace(b"\xfd\xee", b"\xfe").replace(b"\xfd\xed", b"\xfd")
    if len(data) - len(out) != data.count(b"\xfd"):
        raise ProtocolError("bad escape sequence")
    return out


def encode_frame(packet_id: int, data: bytes) -> bytes:
    """Build one v3 frame. An empty `data` is the "please resend packet `packet_id`" frame."""
    if not 0 <= packet_id <= 0xFF or packet_id == STX:
        raise ProtocolError(f"invalid packet id {packet_id:#x}")
    length = len(data)
    if length > MAX_DATA_LEN:
        raise ProtocolError(f"frame data too long: {length} > {MAX_DATA_LEN}")
    # crc8() inlined: this runs for every frame either side sends.
    table = _CRC_TABLE
    crc = table[0xFF ^ packet_id]
    for byte in data:
        crc = table[crc ^ byte]
    body = data + _ONE_BYTE[crc]
    if b"\xfd" in body or b"\xfe" in body:
        body = escape(body)
    return _HEADER(STX, length & 0x7F, length >> 7, packet_id) + body


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame: packet id and unescaped DATA (empty means "resend packet `packet_id`")."""

    packet_id: int
    data: bytes

    def __init__(self, packet_id: int, data: bytes) -> None:
        # The slots set through their descriptors: the generated frozen __init__ calls object.__setattr__
        # per field (~1.6x the cost); one Frame is made per frame received, on either side.
        _set_frame_id(self, packet_id)
        _set_frame_data(self, data)


_set_frame_id, _set_frame_data = Frame.packet_id.__set__, Frame.data.__set__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FrameError:
    """Something on the line that was not a valid frame.

    `reason` is one of the `REASON_*` strings below; `packet_id` is known once the header was read (the
    host answers a corrupt frame with an empty frame of that id, reference §1.4); `raw` holds the
    offending bytes as received (capped in length).
    """

    reason: str
    packet_id: int | None
    raw: bytes


REASON_NOISE: Final = "noise"  # bytes outside any frame
REASON_RESYNC: Final = "unexpected STX"  # a frame was cut short by a new FE
REASON_BAD_LENGTH: Final = "bad length"  # a LEN byte with bit 7 set
REASON_TOO_LONG: Final = "too long"  # LEN above the decoder's cap
REASON_BAD_ESCAPE: Final = "bad escape"  # FD not followed by EE/ED
REASON_BAD_CRC: Final = "bad CRC"
REASON_TRUNCATED: Final = "truncated"  # a partial frame dropped by `reset()` (e.g. after a line timeout)

_HUNT, _LEN_LO, _LEN_HI, _ID, _BODY = range(5)
_SPECIAL = re.compile(b"[\xfd\xfe]")


class FrameDecoder:
    """Streaming v3 decoder: `feed(bytes) -> [Frame | FrameError, ...]`. Never raises on input bytes.

    It is a byte-at-a-time state machine (runs of ordinary bytes are copied in bulk for speed), so the
    events it yields for a stream do not depend on how the stream is split into `feed` calls. Memory is
    bounded: a frame's LEN above `max_data_len` is rejected from the header alone, and runs of noise are
    reported in pieces of at most `max_noise` bytes.
    """

    def __init__(self, max_data_len: int = 4096, max_noise: int = 256) -> None:
        if not 0 <= max_data_len <= MAX_DATA_LEN:
            raise ValueError("max_data_len must be within 0..16383")
        self.max_data_len = max_data_len
        self.max_noise = max(1, max_noise)
        self._state = _HUNT
        self._noise = bytearray()
        self._raw = bytearray()  # the current candidate frame as received
        self._data = bytearray()  # its unescaped DATA + CRC so far
        self._len = 0
        self._pid = 0
        self._need = 0  # unescaped bytes (DATA + CRC) still to come
        self._esc = False

    @property
    def idle(self) -> bool:
        """True when no frame is half-received (useful for a driver's inter-byte timeout)."""
        return self._state == _HUNT

    def reset(self) -> list[FrameError]:
        """Drop any partial frame (e.g. after a line timeout); returns what was dropped as events."""
        events: list[FrameError] = []
        if self._noise:
            events.append(FrameError(REASON_NOISE, None, bytes(self._noise)))
            self._noise.clear()
        if self._state != _HUNT:
            pid = self._pid if self._state == _BODY else None
            events.append(FrameError(REASON_TRUNCATED, pid, bytes(self._raw)))
            self._state = _HUNT
        return events

    def _flush_noise(self, events: list[Frame | FrameError]) -> None:
        if self._noise:
            events.append(FrameError(REASON_NOISE, None, bytes(self._noise)))
            self._noise.clear()

    def _start(self) -> None:
        self._state = _LEN_LO
        self._raw = bytearray(b"\xfe")

    def _fail(self, events: list[Frame | FrameError], reason: str, pid: int | None) -> None:
        events.append(FrameError(reason, pid, bytes(self._raw)))
        self._state = _HUNT

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        events: list[Frame | FrameError] = []
        if type(data) is not bytes:
            data = bytes(data)  # (slices of bytes are bytes: no copy per frame below)
        pos = 0
        end = len(data)
        while pos < end:
            state = self._state
            if state == _HUNT:
                idx = data.find(b"\xfe", pos)
                if idx != pos:  # bytes before the frame (or no frame at all)
                    stop = end if idx < 0 else idx
                    # Noise is reported in fixed-size pieces so the events do not depend on chunking.
                    while pos < stop:
                        take = min(stop - pos, self.max_noise - len(self._noise))
                        self._noise += data[pos : pos + take]
                        pos += take
                        if len(self._noise) >= self.max_noise:
                            self._flush_noise(events)
                    if idx < 0:
                        break
                if self._noise:  # (no call when there is none: the usual case)
                    self._flush_noise(events)
                # Fast path for the common case: whole frames with nothing to unescape are already
                # here, back to back. It yields exactly what the byte-level path below would.
                if idx + 4 < end:
                    table = _CRC_TABLE
                    max_len = self.max_data_len
                    append = events.append
                    while True:
                        lo, hi, pid = data[idx + 1], data[idx + 2], data[idx + 3]
                        if lo >= 0x80 or hi >= 0x80 or pid == STX:
                            break
                        length = lo | hi << 7
                        stop = idx + 5 + length
                        if length > max_len or stop > end:
                            break
                        body = data[idx + 4 : stop - 1]
                        last = data[stop - 1]  # the CRC
                        if ESC in body or STX in body or last == ESC or last == STX:
                            break  # something to unescape, or a new frame starts inside this one
                        crc = table[0xFF ^ pid]
                        for byte in body:  # crc8() inlined
                            crc = table[crc ^ byte]
                        if crc == last:
                            append(Frame(pid, body))
                        else:
                            append(FrameError(REASON_BAD_CRC, pid, data[idx:stop]))
                        pos = stop
                        if stop + 4 < end and data[stop] == STX:
                            idx = stop  # the next frame follows at once
                            continue
                        break
                    if pos > idx:  # the last frame looked at was taken whole
                        continue
                self._start()
                pos = idx + 1
                continue

            byte = data[pos]
            if state != _BODY:
                pos += 1
                if byte == STX:
                    self._fail(events, REASON_RESYNC, None)
                    self._start()
                    continue
                self._raw.append(byte)
                if state == _LEN_LO:
                    if byte & 0x80:
                        self._fail(events, REASON_BAD_LENGTH, None)
                        continue
                    self._len = byte
                    self._state = _LEN_HI
                elif state == _LEN_HI:
                    if byte & 0x80:
                        self._fail(events, REASON_BAD_LENGTH, None)
                        continue
                    self._len |= byte << 7
                    if self._len > self.max_data_len:
                        self._fail(events, REASON_TOO_LONG, None)
                        continue
                    self._state = _ID
                else:  # _ID
                    self._pid = byte
                    self._need = self._len + 1
                    self._data = bytearray()
                    self._esc = False
                    self._state = _BODY
                continue

            # _BODY: collect `_need` more unescaped bytes.
            if self._esc:
                if byte == STX:
                    self._fail(events, REASON_RESYNC, self._pid)
                    self._start()
                    pos += 1
                    continue
                self._raw.append(byte)
                pos += 1
                self._esc = False
                if byte == TSTX:
                    self._data.append(STX)
                elif byte == TESC:
                    self._data.append(ESC)
                else:
                    self._fail(events, REASON_BAD_ESCAPE, self._pid)
                    continue
                self._need -= 1
            else:
                limit = min(end, pos + self._need)
                match = _SPECIAL.search(data, pos, limit)
                stop = limit if match is None else match.start()
                if stop > pos:
                    chunk = data[pos:stop]
                    self._raw += chunk
                    self._data += chunk
                    self._need -= stop - pos
                    pos = stop
                if match is not None:
                    pos += 1
                    if data[stop] == STX:
                        self._fail(events, REASON_RESYNC, self._pid)
                        self._start()
                        continue
                    self._raw.append(ESC)
                    self._esc = True
                    continue
            if self._need == 0:
                self._finish(events)
        return events

    def _finish(self, events: list[Frame | FrameError]) -> None:
        self._state = _HUNT
        body = self._data
        crc = body.pop()
        if crc8(body, _CRC_TABLE[0xFF ^ self._pid]) != crc:
            events.append(FrameError(REASON_BAD_CRC, self._pid, bytes(self._raw)))
            return
        events.append(Frame(self._pid, bytes(body)))


MAX_PACKET_ID: Final = 0xDF
"""Host packet ids run 0x00..0xDF and wrap (atol4j); 0xF0 is the device's async id."""


def next_packet_id(packet_id: int) -> int:
    """The packet (or task) id after `packet_id`, wrapping after 0xDF as atol4j does."""
    return 0 if packet_id >= MAX_PACKET_ID else packet_id + 1


def resend_request(packet_id: int) -> bytes:
    """The empty frame that asks the other side to resend packet `packet_id` (reference §1.4)."""
    return encode_frame(packet_id, b"")


def is_resend_request(frame: Frame) -> bool:
    return not frame.data


def decode_frame(raw: bytes) -> Frame:
    """Decode exactly one complete frame (a convenience for tests and tools); ProtocolError otherwise."""
    decoder = FrameDecoder(max_data_len=MAX_DATA_LEN)
    events = decoder.feed(raw)
    if len(events) != 1 or not decoder.idle or not isinstance(events[0], Frame):
        reasons = [e.reason for e in events if isinstance(e, FrameError)] or ["incomplete"]
        raise ProtocolError(f"not exactly one valid v3 frame: {', '.join(reasons)}")
    return events[0]
