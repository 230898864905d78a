"""v2 framing and the sans-I/O ENQ/ACK/NAK/EOT links, driven deterministically (timeouts as data)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.atol import v2
from protocols.atol.v2 import ACK, ENQ, EOT, NAK, Deliver, DeviceLink, Failed, HostLink, SetTimer, Timeouts, Write
from protocols.errors import ProtocolError


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_frame_round_trip(data: bytes) -> None:
    assert v2.decode_frame(v2.encode_frame(data)) == data


@settings(max_examples=300)
@given(st.binary(max_size=400), st.integers(1, 7))
def test_decoder_any_bytes(data: bytes, step: int) -> None:
    decoder = v2.FrameDecoder(max_data_len=64)
    whole = decoder.feed(data)
    assert all(isinstance(e, (v2.Frame, v2.FrameError)) for e in whole)
    chunked = v2.FrameDecoder(max_data_len=64)
    events = [e for i in range(0, len(data), step) for e in chunked.feed(data[i : i + step])]
    assert events == whole


@settings(max_examples=200)
@given(st.lists(st.tuples(st.binary(max_size=20).map(lambda b: b.replace(b"\x02", b"")), st.binary(max_size=60)), max_size=5))
def test_frames_between_noise_without_stx(parts: list[tuple[bytes, bytes]]) -> None:
    stream = b"".join(noise + v2.encode_frame(data) for noise, data in parts)
    events = v2.FrameDecoder().feed(stream)
    assert events == [v2.Frame(data) for _, data in parts]


def test_bad_check_byte() -> None:
    frame = v2.encode_frame(b"\x00\x00\x3f")
    events = v2.FrameDecoder().feed(frame[:-1] + bytes((frame[-1] ^ 0xFF,)))
    assert [type(e) for e in events] == [v2.FrameError]
    with pytest.raises(ProtocolError):
        v2.decode_frame(frame[:-1])


def test_t5_table() -> None:
    assert v2.t5_for(0x5A) == 40.0
    assert v2.t5_for(0xE6) == 50.0
    assert v2.t5_for(0x3F) == Timeouts().t5
    assert HostLink().send(b"\x00\x00\x5a") == [Write(bytes((ENQ,))), SetTimer(0.5)]


def _writes(actions) -> bytes:
    return b"".join(a.data for a in actions if isinstance(a, Write))


def _run(host: HostLink, device: DeviceLink, payload: bytes, answer: bytes, drop=lambda n, d: d):
    """Wire the two links back to back until quiet. `drop(n, data)` may corrupt the n-th write."""
    delivered_host, delivered_device, failures = [], [], []
    queue = [("dev", host.send(payload))]
    n = 0
    while queue:
        target, actions = queue.pop(0)
        for action in actions:
            if isinstance(action, Deliver):
                if target == "dev":  # actions came from host
                    delivered_host.append(action.data)
                else:
                    delivered_device.append(action.data)
                    queue.append(("host", device.reply(answer)))
            elif isinstance(action, Failed):
                failures.append(action.reason)
            elif isinstance(action, Write):
                n += 1
                data = drop(n, action.data)
                if data:
                    link = device if target == "dev" else host
                    queue.append(("host" if target == "dev" else "dev", link.receive(data)))
    return delivered_host, delivered_device, failures


def test_host_and_device_exchange() -> None:
    host, device = HostLink(), DeviceLink()
    got_host, got_device, failures = _run(host, device, b"\x00\x00\x3f", b"\x44" + bytes(29))
    assert got_device == [b"\x00\x00\x3f"]
    assert got_host == [b"\x44" + bytes(29)]
    assert failures == []
    assert host.idle and device.idle


def test_corrupted_frame_is_nakked_and_resent() -> None:
    host, device = HostLink(), DeviceLink()

    def corrupt_first_frame(n: int, data: bytes) -> bytes:
        return data[:-1] + bytes((data[-1] ^ 1,)) if n == 3 else data  # 3rd write: host's frame

    got_host, got_device, failures = _run(host, device, b"\x00\x00\x45", b"\x55\x00\x00", corrupt_first_frame)
    assert got_device == [b"\x00\x00\x45"] and got_host == [b"\x55\x00\x00"] and failures == []


def test_host_gives_up_after_enq_retries() -> None:
    host = HostLink(Timeouts(enq_retries=3))
    actions = host.send(b"\x00\x00\x3f")
    writes = _writes(actions)
    for _ in range(3):
        actions = host.timeout()
        writes += _writes(actions)
    assert writes == bytes((ENQ, ENQ, ENQ, EOT))
    assert Failed("no ACK to ENQ") in actions
    assert host.idle


def test_host_frame_retries_and_answer_timeout() -> None:
    host = HostLink(Timeouts(frame_retries=2))
    host.send(b"\x00\x00\x3f")
    frame = v2.encode_frame(b"\x00\x00\x3f")
    assert host.receive(bytes((ACK,))) == [Write(frame), SetTimer(0.5)]
    assert host.receive(bytes((NAK,))) == [Write(frame), SetTimer(0.5)]
    actions = host.receive(bytes((NAK,)))
    assert Failed("frame not acknowledged") in actions and host.idle

    host.send(b"\x00\x00\x5a")
    host.receive(bytes((ACK,)))
    assert host.receive(bytes((ACK,))) == [Write(bytes((EOT,))), SetTimer(40.0)]
    assert host.timeout() == [SetTimer(None), Failed("no answer (T5)")]


def test_host_backs_off_on_enq_collision() -> None:
    host = HostLink()
    host.send(b"\x00\x00\x3f")
    assert host.receive(bytes((ENQ,))) == [SetTimer(0.5)]  # T7
    assert host.timeout() == [Write(bytes((ENQ,))), SetTimer(0.5)]


def test_busy_link_refuses_second_send() -> None:
    host = HostLink()
    host.send(b"\x00\x00\x3f")
    with pytest.raises(ProtocolError):
        host.send(b"\x00\x00\x45")


@settings(max_examples=200)
@given(st.lists(st.one_of(st.binary(max_size=8), st.none()), max_size=30))
def test_links_never_raise_on_line_input(inputs) -> None:
    host, device = HostLink(), DeviceLink()
    host.send(b"\x00\x00\x3f")
    for item in inputs:
        for link in (host, device):
            actions = link.timeout() if item is None else link.receive(item)
            assert all(isinstance(a, (Write, SetTimer, Deliver, Failed)) for a in actions)


def test_device_side_receives_and_answers() -> None:
    device = DeviceLink()
    assert device.receive(bytes((ENQ,))) == [Write(bytes((ACK,))), SetTimer(2.0)]
    frame = v2.encode_frame(b"\x00\x00\x3f")
    bad = frame[:-1] + bytes((frame[-1] ^ 1,))
    assert device.receive(bad) == [Write(bytes((NAK,))), SetTimer(2.0)]
    assert device.receive(frame) == [Write(bytes((ACK,))), Deliver(b"\x00\x00\x3f"), SetTimer(1.0)]
    assert device.reply(b"\x55\x00\x00") == []  # queued until the host's EOT
    assert device.receive(bytes((EOT,))) == [Write(bytes((ENQ,))), SetTimer(0.5)]
    answer = v2.encode_frame(b"\x55\x00\x00")
    assert device.receive(bytes((ACK,))) == [Write(answer), SetTimer(0.5)]
    assert device.receive(bytes((NAK,))) == [Write(answer), SetTimer(0.5)]
    assert device.receive(bytes((ACK,))) == [Write(bytes((EOT,))), SetTimer(None)]
    assert device.idle


def test_device_gives_up_and_times_out() -> None:
    device = DeviceLink(Timeouts(enq_retries=2, frame_retries=1))
    device.reply(b"\x55\x00\x00")
    assert device.timeout() == [Write(bytes((ENQ,))), SetTimer(0.5)]
    assert device.timeout() == [Write(bytes((EOT,))), SetTimer(None), Failed("no ACK to ENQ")]
    assert device.idle
    # A host that ACKs the ENQ but never sends a frame: NAK once, then give up.
    device.receive(bytes((ENQ,)))
    assert device.timeout() == [Write(bytes((NAK,))), SetTimer(2.0)]
    assert device.timeout() == [SetTimer(None), Failed("too many bad frames")]
    assert device.idle


def test_host_receives_answer_with_eot_in_same_chunk() -> None:
    host = HostLink()
    host.send(b"\x00\x00\x45")
    host.receive(bytes((ACK,)))
    host.receive(bytes((ACK,)))
    assert host.receive(bytes((ENQ,))) == [Write(bytes((ACK,))), SetTimer(2.0)]
    actions = host.receive(v2.encode_frame(b"\x55\x00\x00") + bytes((EOT,)))
    assert actions == [Write(bytes((ACK,))), Deliver(b"\x55\x00\x00"), SetTimer(1.0), SetTimer(None)]
    assert host.idle
