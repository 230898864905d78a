"""`Transport.write`: one writer at a time, in call order - with the write lock for a `_write` that
suspends, and without it for an in-process peer (`writes_at_once`)."""

from __future__ import annotations

import asyncio

from kkm_bridge.transports import memory_pipe
from kkm_bridge.transports.base import Deadline, Transport


class _SlowWire(Transport):
    """A `_write` that suspends halfway through each payload, like a serial port draining."""

    def __init__(self) -> None:
        super().__init__("slow://test")
        self.wire = bytearray()

    @property
    def connected(self) -> bool:
        return True

    async def connect(self, deadline: Deadline = None) -> None:
        pass

    async def close(self) -> None:
        pass

    async def _write(self, data: bytes, deadline: Deadline) -> None:
        half = len(data) // 2
        self.wire += data[:half]
        await asyncio.sleep(0)
        self.wire += data[half:]

    async def _read_some(self, max_bytes: int, deadline: Deadline) -> bytes:
        raise NotImplementedError


async def test_a_write_that_suspends_is_not_interleaved_with_another() -> None:
    transport = _SlowWire()
    assert not transport.writes_at_once
    frames = [bytes([n]) * 8 for n in range(1, 6)]
    await asyncio.gather(*(transport.write(frame) for frame in frames))
    assert bytes(transport.wire) == b"".join(frames)


async def test_in_process_writes_arrive_whole_and_in_call_order() -> None:
    host, device = memory_pipe()
    await host.connect()
    await device.connect()
    assert host.writes_at_once
    frames = [bytes([n]) * 8 for n in range(1, 6)]
    await asyncio.gather(*(host.write(frame) for frame in frames))
    assert await device.read_exactly(40) == b"".join(frames)
