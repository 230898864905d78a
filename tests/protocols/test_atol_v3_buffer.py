"""Task-buffer messages inside v3 frames, both directions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.atol import v3
from protocols.atol.v3_buffer import (
    Abort,
    Ack,
    AckAdd,
    Add,
    AddFlags,
    TaskState,
    TaskStatus,
    decode_device,
    decode_host,
    encode_device,
    encode_host,
)
from protocols.errors import ProtocolError

u8 = st.integers(0, 255)
host_messages = st.one_of(
    st.builds(Add, tid=u8, payload=st.binary(max_size=64), flags=u8),
    st.builds(Ack, u8),
    st.builds(lambda t: __import__("protocols.atol.v3_buffer", fromlist=["Req"]).Req(t), u8),
    st.just(Abort()),
    st.builds(AckAdd, ack_tid=u8, tid=u8, payload=st.binary(max_size=64), flags=u8),
)


@settings(max_examples=200)
@given(host_messages)
def test_host_round_trip(msg) -> None:
    assert decode_host(encode_host(msg)) == msg


@settings(max_examples=200)
@given(st.sampled_from(list(TaskState)), u8, st.binary(max_size=64))
def test_device_round_trip(state: TaskState, tid: int, payload: bytes) -> None:
    status = TaskStatus(state, tid if state.has_tid else None, payload)
    assert decode_device(encode_device(status)) == status


@settings(max_examples=300)
@given(st.binary(max_size=20))
def test_decoders_raise_only_protocol_error(data: bytes) -> None:
    for decode in (decode_host, decode_device):
        try:
            decode(data)
        except ProtocolError:
            pass


def test_reference_bytes() -> None:
    add = Add(tid=1, payload=b"\x00\x00\x3f", flags=AddFlags.NEED_RESULT)
    assert v3.encode_frame(2, encode_host(add)).hex(" ") == "fe 06 00 02 c1 01 01 00 00 3f ed"
    assert v3.encode_frame(4, encode_host(Ack(1))).hex(" ").upper() == "FE 02 00 04 C2 01 20"
    from protocols.atol.v3_buffer import Req

    assert v3.encode_frame(5, encode_host(Req(1))).hex(" ").upper() == "FE 02 00 05 C3 01 92"
    assert v3.encode_frame(6, encode_host(Abort())).hex(" ").upper() == "FE 01 00 06 C4 58"
    frame = v3.decode_frame(bytes.fromhex("FE 05 00 F0 A6 57 55 00 00 FD EE"))
    assert frame.packet_id == v3.ASYNC_PACKET_ID
    assert decode_device(frame.data) == TaskStatus(TaskState.ASYNC_RESULT, 0x57, b"\x55\x00\x00")
    assert decode_device(b"\xa3\x55\x00\x00") == TaskStatus(TaskState.RESULT, None, b"\x55\x00\x00")
    assert decode_host(b"\xc5\x01\x01\x02\x00\x00\x48") == AckAdd(1, 2, b"\x00\x00\x48", AddFlags.NEED_RESULT)


def test_rejects() -> None:
    for bad in (b"", b"\xc1\x01", b"\xc2", b"\xc2\x01\x02", b"\xc4\x00", b"\xc0"):
        with pytest.raises(ProtocolError):
            decode_host(bad)
    for bad in (b"", b"\xa6", b"\x55"):
        with pytest.raises(ProtocolError):
            decode_device(bad)
    with pytest.raises(ProtocolError):
        encode_device(TaskStatus(TaskState.ASYNC_RESULT, None, b""))
    with pytest.raises(ProtocolError):
        encode_device(TaskStatus(TaskState.RESULT, 1, b""))
    with pytest.raises(ProtocolError):
        encode_host(Ack(256))
