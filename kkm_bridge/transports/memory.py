"""An in-process byte pipe with the Transport interface.

Two connected ends: bytes written to one are read from the other. It is what an in-process
device (the `sim://` simulator) or a test needs to talk to the driver without an OS device,
with the same semantics as a real link: deadlines, `Disconnected` when the other end closes.
"""

from __future__ import annotations

import asyncio
import logging

from kkm_bridge.transports.base import Deadline, Transport, timeout_error
from kkm_bridge.transports.errors import Disconnected

logger = logging.getLogger(__name__)


class InboxTransport(Transport):
    """A transport whose incoming bytes are pushed in by code in the same process.

    Shared by `MemoryTransport` and the simulator's `sim://` transport: both differ only in where
    written bytes go and in what ends the link, so the inbox and its deadline-bound read live here once.
    Their `_write` hands the bytes to the peer at once (`writes_at_once`: no write lock needed); a
    subclass whose `_write` awaits must set `writes_at_once = False`.
    """

    writes_at_once = True

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self._incoming = bytearray()
        self._arrived = asyncio.Event()
        self._open = False
        self._hangup: str | None = None  # why reads fail once the inbox is drained, if the link ended

    @property
    def connected(self) -> bool:
        return self._open

    def _push(self, data: bytes) -> None:
        self._incoming += data
        self._arrived.set()

    def _hang_up(self, reason: str) -> None:
        """End the link: bytes already pushed can still be read, then reads raise Disconnected."""
        self._hangup = reason
        self._arrived.set()

    async def _read_some(self, max_bytes: int, deadline: Deadline) -> bytes:
        while not self._incoming:
            if not self._open:
                raise Disconnected(f"{self.address}: closed")
            if self._hangup is not None:
                self._open = False
                raise Disconnected(f"{self.address}: {self._hangup}")
            self._arrived.clear()
            if deadline is None:  # no limit (the driver's reader): no timeout context per read
                await self._arrived.wait()
                continue
            try:
                async with asyncio.timeout_at(deadline):
                    await self._arrived.wait()
            except TimeoutError:
                raise timeout_error(self.address, "receive data") from None
        data = bytes(self._incoming)
        self._incoming.clear()
        return data


class MemoryTransport(InboxTransport):
    """One end of a `memory_pipe()`.

    Writing while the other end is not open raises Disconnected; reading raises it once the
    other end has closed and everything it sent has been read.
    """

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.peer: MemoryTransport | None = None

    async def connect(self, deadline: Deadline = None) -> None:
        if self.peer is None:
            raise Disconnected(f"{self.address}: not part of a pipe")
        self._open = True
        self._hangup = None

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._arrived.set()  # wake our own pending read: it raises Disconnected
        if self.peer is not None:
            self.peer._hang_up("the other end closed")

    async def _write(self, data: bytes, deadline: Deadline) -> None:
        peer = self.peer
        if peer is None or self._hangup is not None or not peer._open:
            self._open = False
            raise Disconnected(f"{self.address}: the other end closed")
        peer._push(data)


def memory_pipe(address_a: str = "memory://a", address_b: str = "memory://b") -> tuple[MemoryTransport, MemoryTransport]:
    """Two linked, not yet connected ends. Call `connect()` on both before use."""
    a, b = MemoryTransport(address_a), MemoryTransport(address_b)
    a.peer, b.peer = b, a
    return a, b
