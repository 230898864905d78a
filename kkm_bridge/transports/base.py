"""The one async byte-stream interface every printer link implements.

Deadlines
---------
Every blocking operation takes `deadline`: an *absolute* time on the running event loop's clock
(`asyncio.get_running_loop().time()`), or `None` for "no limit". Absolute deadlines compose: a
driver request gets one deadline and passes it unchanged to every write and read it makes, so a
slow first step leaves less time for the rest instead of silently extending the request. Use
`deadline_in(seconds)` to make one and `remaining(deadline)` to see what is left.

An operation whose deadline has already passed still takes what is available *without waiting*
(e.g. `read(n, deadline_in(0))` returns buffered bytes or raises `TransportTimeout`).

Reads
-----
`read()` returns whatever has arrived (at least one byte, at most `max_bytes`) or raises.
`read_exactly()` returns exactly `n` bytes or raises; bytes that arrived before a timeout or a
cancellation are put back, so a caller that keeps reading loses nothing.

Subclasses implement `connect`, `close`, `connected`, `_write` and `_read_some`; this class owns
the receive buffer and the locks that keep one reader and one writer at a time.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from kkm_bridge.transports.errors import Disconnected, TransportError, TransportTimeout

logger = logging.getLogger(__name__)

Deadline = float | None
"""Absolute `loop.time()` by which an operation must finish; `None` means no limit."""


def deadline_in(seconds: float | None) -> Deadline:
    """An absolute deadline `seconds` from now on the running loop's clock (`None` stays `None`)."""
    if seconds is None:
        return None
    return asyncio.get_running_loop().time() + seconds


def remaining(deadline: Deadline) -> float | None:
    """Seconds left until `deadline` (never negative), or `None` when there is no deadline."""
    if deadline is None:
        return None
    return max(0.0, deadline - asyncio.get_running_loop().time())


class Transport(ABC):
    """An ordered, reliable-or-failing byte stream to one device.

    Not a message layer: framing, retransmission and command semantics belong to the protocol
    code above. A transport only moves bytes, within deadlines, and says precisely why it failed.
    One task may read while another writes; concurrent readers (or writers) are serialised.
    """

    #: True for a transport whose `_write` hands the bytes over without ever suspending (an in-process
    #: peer): no other writer can run in the middle of such a write, so `write` skips the write lock
    #: (four coroutine calls per frame). A subclass whose `_write` awaits anything must leave it False.
    writes_at_once: bool = False

    def __init__(self, address: str) -> None:
        #: Human-readable address (normally the URI) used in messages and logs.
        self.address = address
        self._rx = bytearray()
        self._read_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        #: Whether a subclass hooks `_ensure_link` (a reconnecting link): otherwise no coroutine per I/O.
        self._link_hook = type(self)._ensure_link is not Transport._ensure_link

    def __repr__(self) -> str:
        state = "connected" if self.connected else "closed"
        return f"<{type(self).__name__} {self.address} {state}>"

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True between a successful `connect()` and `close()` or a detected disconnect."""

    @abstractmethod
    async def connect(self, deadline: Deadline = None) -> None:
        """Open the link. Raises DeviceNotFound, PermissionDenied, DeviceBusy, TransportTimeout.

        Calling it on a connected transport is a no-op; calling it after `close()` or a
        disconnect re-opens the link.
        """

    @abstractmethod
    async def close(self) -> None:
        """Release the device. Idempotent; never raises for an already-dead link."""

    # -- I/O ----------------------------------------------------------------------------------

    async def write(self, data: bytes | bytearray | memoryview, deadline: Deadline = None) -> None:
        """Hand all of `data` to the OS / link layer, or raise (TransportTimeout, Disconnected)."""
        payload = data if type(data) is bytes else bytes(data)
        if not payload:
            return
        if self.writes_at_once and not self._link_hook and not self._write_lock.locked():
            self._require_connected()
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s tx %s", self.address, payload.hex(" "))
            await self._write(payload, deadline)  # completes without suspending: nothing can interleave
            return
        async with self._write_lock:
            if self._link_hook:
                await self._ensure_link(deadline)
            self._require_connected()
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s tx %s", self.address, payload.hex(" "))
            await self._write(payload, deadline)

    async def read(self, max_bytes: int, deadline: Deadline = None) -> bytes:
        """Return 1..max_bytes bytes that have arrived, waiting until `deadline` for the first one."""
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        async with self._read_lock:
            return await self._read_buffered(max_bytes, deadline)

    async def read_exactly(self, n: int, deadline: Deadline = None) -> bytes:
        """Return exactly `n` bytes, or raise; partial data goes back into the buffer on failure."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        async with self._read_lock:
            got = bytearray()
            try:
                while len(got) < n:
                    got += await self._read_buffered(n - len(got), deadline)
            except TransportTimeout:
                self._rx[:0] = got
                raise TransportTimeout(
                    f"{self.address}: timed out after {len(got)} of {n} bytes", partial=bytes(got)
                ) from None
            except BaseException:
                # Cancelled, or the link dropped: keep what arrived for whoever reads next.
                self._rx[:0] = got
                raise
            return bytes(got)

    def discard_input(self) -> int:
        """Drop bytes already received but not yet read (e.g. stale replies); returns the count.

        Only the transport's own buffer is cleared: bytes still in flight arrive later.
        """
        count = len(self._rx)
        self._rx.clear()
        if count:
            logger.debug("%s discarded %d buffered bytes", self.address, count)
        return count

    # -- for subclasses -----------------------------------------------------------------------

    @abstractmethod
    async def _write(self, data: bytes, deadline: Deadline) -> None:
        """Write all of `data` (non-empty) before `deadline`."""

    @abstractmethod
    async def _read_some(self, max_bytes: int, deadline: Deadline) -> bytes:
        """Return at least one new byte (more than `max_bytes` is fine: the rest is buffered)."""

    async def _ensure_link(self, deadline: Deadline) -> None:
        """Hook run before each I/O: a transport that reconnects by itself waits here."""

    def _require_connected(self) -> None:
        if not self.connected:
            raise Disconnected(f"{self.address}: not connected")

    async def _read_buffered(self, max_bytes: int, deadline: Deadline) -> bytes:
        if not self._rx:
            if self._link_hook:
                await self._ensure_link(deadline)
            self._require_connected()
            data = await self._read_some(max_bytes, deadline)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s rx %s", self.address, data.hex(" "))
            if len(data) <= max_bytes and type(data) is bytes:
                return data  # all of it: no trip through the buffer
            self._rx += data
        chunk = bytes(self._rx[:max_bytes])
        del self._rx[:max_bytes]
        return chunk


def timeout_error(address: str, what: str) -> TransportTimeout:
    """A TransportTimeout with a uniform message (used by every transport)."""
    return TransportTimeout(f"{address}: timed out waiting to {what}")


async def connect_with_retries(
    transport: Transport,
    deadline: Deadline,
    *,
    attempts: int = 3,
    delay: float = 0.5,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Connect, retrying errors marked `retryable` at most `attempts` times in total.

    Why bounded: a printer that is not there must surface as an error the operator can see,
    not as a daemon that polls forever. Non-retryable errors (bad address, permissions) are
    raised at once. The wait between attempts never runs past `deadline`.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            await transport.connect(deadline)
            if attempt > 1:
                logger.info("%s connected on attempt %d", transport.address, attempt)
            return
        except TransportError as exc:
            left = remaining(deadline)
            out_of_time = left is not None and left <= delay
            if not exc.retryable or attempt == attempts or out_of_time:
                raise
            logger.warning(
                "%s connect attempt %d/%d failed (%s: %s); retrying in %.2fs",
                transport.address, attempt, attempts, type(exc).__name__, exc, delay,
            )
            await sleep(delay)
