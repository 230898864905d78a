"""Run a blocking "poll for bytes" call in a worker thread without losing data.

Some links have no file descriptor the event loop can watch (Windows COM ports, libusb bulk
endpoints), so their reads happen in a thread with a short OS-level timeout. A plain
`await asyncio.to_thread(read)` loses data: if the awaiting task times out or is cancelled
while the thread is inside the read, the bytes the thread then returns have nowhere to go.

`ThreadedPoller` keeps the in-flight call as its own future. A caller waits on it through
`asyncio.shield`, so giving up only stops *waiting*; the next `read()` resumes the same call
and receives its bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kkm_bridge.transports.base import Deadline, timeout_error


class ThreadedPoller:
    """Repeatedly runs `poll()` in the default executor until it returns bytes.

    `poll()` must block for at most a short interval (it bounds cancellation latency and how
    long `close()` waits), return `b""` when nothing arrived, and raise a TransportError when
    the link is broken.
    """

    def __init__(self, address: str, poll: Callable[[], bytes]) -> None:
        self._address = address
        self._poll = poll
        self._inflight: asyncio.Future[bytes] | None = None

    async def read(self, deadline: Deadline) -> bytes:
        loop = asyncio.get_running_loop()
        while True:
            if self._inflight is None:
                self._inflight = loop.run_in_executor(None, self._poll)
            fut = self._inflight
            try:
                async with asyncio.timeout_at(deadline):
                    data = await asyncio.shield(fut)
            except TimeoutError:
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    data = fut.result()
                    self._inflight = None
                    if data:
                        return data
                raise timeout_error(self._address, "receive data") from None
            finally:
                if fut.done():
                    self._inflight = None
            if data:
                return data

    async def settle(self) -> None:
        """Wait for an in-flight poll to finish (before closing the handle it uses)."""
        fut, self._inflight = self._inflight, None
        if fut is not None:
            try:
                await fut
            except Exception:  # the link is being closed anyway
                pass
