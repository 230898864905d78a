"""v3 framing: round trips, and the streaming decoder under arbitrary input.

The properties, stated precisely:
1. `feed` never raises and returns only Frame / FrameError, for any bytes and any chunking.
2. The events do not depend on the chunking (the decoder is a byte-level state machine).
3. Recovery: because 0xFE never occurs after the STX of a valid frame (LEN < 0x80, ID != FE, DATA and
   CRC stuffed), every 0xFE restarts the decoder. So for ANY noise between valid frames, every valid
   frame is decoded, in order (noise may additionally decode into spurious frames by chance, so the
   valid frames are a subsequence of the decoded ones).
4. With noise that contains no 0xFE, the decoded frames are exactly the valid frames.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.atol import v3
from protocols.atol.v3 import Frame, FrameDecoder, FrameError, encode_frame

packet_ids = st.integers(0, 0xFD)
payloads = st.binary(max_size=300) | st.lists(st.sampled_from([0xFD, 0xFE, 0xEE, 0xED, 0x00]), max_size=40).map(bytes)
frames = st.tuples(packet_ids, payloads)


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def _decode(pieces: list[bytes], **kw: int) -> list[Frame | FrameError]:
    decoder = FrameDecoder(**kw)
    events: list[Frame | FrameError] = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events


def _is_subsequence(needles: list[Frame], haystack: list[Frame]) -> bool:
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


@settings(max_examples=200)
@given(frames)
def test_encode_decode_round_trip(frame: tuple[int, bytes]) -> None:
    pid, data = frame
    raw = encode_frame(pid, data)
    assert raw[0] == 0xFE and 0xFE not in raw[1:]
    assert v3.decode_frame(raw) == Frame(pid, data)


@settings(max_examples=300)
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=20))
def test_any_bytes_any_chunking_only_events_and_chunking_independent(data: bytes, cuts: list[int]) -> None:
    whole = _decode([data], max_data_len=200, max_noise=16)
    assert all(isinstance(e, (Frame, FrameError)) for e in whole)
    assert _decode(_chunked(data, cuts), max_data_len=200, max_noise=16) == whole
    assert _decode([bytes((b,)) for b in data], max_data_len=200, max_noise=16) == whole


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.binary(max_size=40), frames), max_size=6),
    st.binary(max_size=40),
    st.lists(st.integers(0, 100_000), max_size=30),
)
def test_valid_frames_in_arbitrary_noise_are_all_recovered(
    parts: list[tuple[bytes, tuple[int, bytes]]], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(noise + encode_frame(pid, data) for noise, (pid, data) in parts) + tail
    expected = [Frame(pid, data) for _, (pid, data) in parts]
    decoded = [e for e in _decode(_chunked(stream, cuts)) if isinstance(e, Frame)]
    assert _is_subsequence(expected, decoded)


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.binary(max_size=40).map(lambda b: b.replace(b"\xfe", b"")), frames), max_size=6),
    st.lists(st.integers(0, 100_000), max_size=30),
)
def test_noise_without_stx_yields_exactly_the_frames(
    parts: list[tuple[bytes, tuple[int, bytes]]], cuts: list[int]
) -> None:
    stream = b"".join(noise + encode_frame(pid, data) for noise, (pid, data) in parts)
    events = _decode(_chunked(stream, cuts))
    assert [e for e in events if isinstance(e, Frame)] == [Frame(pid, data) for _, (pid, data) in parts]
    # Everything else is reported as noise, nothing is silently lost.
    noise = b"".join(e.raw for e in events if isinstance(e, FrameError))
    assert all(e.reason == v3.REASON_NOISE for e in events if isinstance(e, FrameError))
    assert noise == b"".join(n for n, _ in parts)


def test_buffer_is_bounded() -> None:
    decoder = FrameDecoder(max_data_len=100, max_noise=64)
    # A header announcing 16383 bytes is rejected from the header alone.
    assert decoder.feed(b"\xfe\x7f\x7f\x01") == [FrameError(v3.REASON_TOO_LONG, None, b"\xfe\x7f\x7f")]
    # A megabyte of noise never accumulates more than max_noise bytes.
    events = decoder.feed(b"\x00" * 1_000_000)
    assert len(events) == 1_000_000 // 64
    assert all(len(e.raw) == 64 for e in events)
    assert len(decoder._noise) <= 64 and len(decoder._raw) <= 3 * 100 + 8


def test_error_events() -> None:
    good = encode_frame(3, b"\xc1\x01\x01\x00\x00\x3f")
    bad_crc = good[:-1] + bytes((good[-1] ^ 1,))
    events = FrameDecoder().feed(bad_crc + good)
    assert events == [FrameError(v3.REASON_BAD_CRC, 3, bad_crc), Frame(3, b"\xc1\x01\x01\x00\x00\x3f")]

    events = FrameDecoder().feed(b"\xfe\x02\x00\x07\xfd\x41\x00" + good)
    assert events[0] == FrameError(v3.REASON_BAD_ESCAPE, 7, b"\xfe\x02\x00\x07\xfd\x41")
    assert events[-1] == Frame(3, b"\xc1\x01\x01\x00\x00\x3f")

    truncated = good[:5]
    events = FrameDecoder().feed(truncated + good)
    assert events == [FrameError(v3.REASON_RESYNC, 3, truncated), Frame(3, b"\xc1\x01\x01\x00\x00\x3f")]

    events = FrameDecoder().feed(b"\xfe\x80" + good)
    assert events == [FrameError(v3.REASON_BAD_LENGTH, None, b"\xfe\x80"), Frame(3, b"\xc1\x01\x01\x00\x00\x3f")]

    decoder = FrameDecoder()
    assert decoder.feed(good[:4]) == []
    assert not decoder.idle
    assert decoder.reset() == [FrameError(v3.REASON_TRUNCATED, 3, good[:4])]
    assert decoder.idle


def test_empty_frame_is_resend_request() -> None:
    assert v3.decode_frame(encode_frame(1, b"")) == Frame(1, b"")


def test_encode_rejects_bad_input() -> None:
    import pytest

    from protocols.errors import ProtocolError

    for pid in (-1, 0xFE, 0x100):
        with pytest.raises(ProtocolError):
            encode_frame(pid, b"")
    with pytest.raises(ProtocolError):
        encode_frame(1, bytes(v3.MAX_DATA_LEN + 1))
    with pytest.raises(ProtocolError):
        v3.unescape(b"\xfd\x00")
    assert v3.unescape(v3.escape(b"\xfd\xee\xfe\xed")) == b"\xfd\xee\xfe\xed"


def test_packet_id_helpers() -> None:
    assert v3.next_packet_id(0) == 1
    assert v3.next_packet_id(0xDF) == 0
    assert v3.resend_request(1) == bytes.fromhex("FE 00 00 01 9D")
    assert v3.is_resend_request(v3.decode_frame(v3.resend_request(7)))
