"""`sim://` through the daemon's Transport interface (what the driver's own tests use)."""

from __future__ import annotations

import pytest

from kkm_bridge.transports import Disconnected, TransportTimeout, deadline_in, open_transport
from protocols.atol import commands as cmd
from protocols.atol.v3 import FrameDecoder
from protocols.atol.v3_buffer import AddFlags, TaskState, decode_device
from simulators.atol import DeviceConfig, Simulator, WireTiming
from simulators.atol.sim_transport import SimTransport, get_simulator, register_simulator, unregister_simulator
from simulators.atol.testing import HostCodec


async def exchange(transport, codec: HostCodec, frame: bytes, frames: int = 1):  # type: ignore[no-untyped-def]
    await transport.write(frame, deadline_in(2))
    decoder = FrameDecoder()
    out: list = []
    while len(out) < frames:
        out += decoder.feed(await transport.read(4096, deadline_in(2)))
    return out


async def test_open_transport_reaches_a_registered_simulator() -> None:
    sim = Simulator(DeviceConfig())
    register_simulator("till-test", sim)
    try:
        transport = open_transport("sim://till-test")
        await transport.connect(deadline_in(1))
        codec = HostCodec()
        frame, _, tid = codec.add_frame(cmd.EnterMode(1, 30), flags=AddFlags.NEED_RESULT)
        accepted, result = await exchange(transport, codec, frame, 2)
        assert decode_device(accepted.data).state == TaskState.PENDING
        assert decode_device(result.data).state == TaskState.ASYNC_RESULT and result.packet_id == 0xF0
        await transport.close()
    finally:
        unregister_simulator("till-test")


async def test_unknown_name_creates_a_persistent_device(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.db"
    transport = open_transport(f"sim://fresh-one?state={path}&width=32")
    try:
        assert isinstance(transport, SimTransport) and transport.sim is get_simulator("fresh-one")
        assert transport.sim.config.line_width == 32 and path.exists()
    finally:
        unregister_simulator("fresh-one")


async def test_dropped_reply_times_out_and_disconnect_fault_drops_the_link() -> None:
    sim = Simulator(DeviceConfig(), timing=WireTiming(command_seconds=0.01, baud=115200))
    transport = SimTransport(sim)
    await transport.connect()
    codec = HostCodec()
    sim.faults.drop_next()
    frame, _, tid = codec.add_frame(cmd.Beep())
    await transport.write(frame, deadline_in(1))
    with pytest.raises(TransportTimeout):
        await transport.read(100, deadline_in(0.05))
    (status,) = await exchange(transport, codec, codec.req_frame(tid))
    assert decode_device(status.data).state == TaskState.RESULT
    sim.faults.disconnect_next(seconds=0.0)
    await transport.write(codec.ack_frame(tid), deadline_in(1))
    half = await transport.read(100, deadline_in(1))
    assert half and FrameDecoder().feed(half) == []
    with pytest.raises(Disconnected):
        await transport.read(100, deadline_in(1))
    await transport.connect()
    frame, _, _ = codec.add_frame(cmd.Beep())
    (status,) = await exchange(transport, codec, frame)
    assert decode_device(status.data).state == TaskState.RESULT
    await transport.close()


async def test_stall_over_sim_transport() -> None:
    sim = Simulator(DeviceConfig())
    sim.faults.stall_next(0.05)
    transport = SimTransport(sim)
    await transport.connect()
    codec = HostCodec()
    frame, _, _ = codec.add_frame(cmd.Beep())
    (status,) = await exchange(transport, codec, frame)
    assert decode_device(status.data).state == TaskState.RESULT
    await transport.close()
