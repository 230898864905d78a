"""Shared helpers for transport tests: a real pty pair where the test plays the device."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import Iterator

import pytest


class PtyDevice:
    """The master side of a pty: what a printer would send and receive on the wire."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        os.set_blocking(self.master, False)
        self.closed = False

    def send(self, data: bytes) -> None:
        """Send a small amount (fits the pty buffer) without waiting."""
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]

    async def send_all(self, data: bytes, timeout: float = 10.0) -> None:
        """Send any amount, waiting for the pty buffer to drain as the port reads."""
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        async with asyncio.timeout(timeout):
            while view:
                try:
                    view = view[os.write(self.master, view):]
                    continue
                except BlockingIOError:
                    pass
                ready = loop.create_future()
                loop.add_writer(self.master, lambda: ready.done() or ready.set_result(None))
                try:
                    await ready
                finally:
                    loop.remove_writer(self.master)

    async def receive_exactly(self, n: int, timeout: float = 5.0) -> bytes:
        loop = asyncio.get_running_loop()
        got = bytearray()
        async with asyncio.timeout(timeout):
            while len(got) < n:
                try:
                    got += os.read(self.master, n - len(got))
                    continue
                except BlockingIOError:
                    pass
                ready = loop.create_future()
                loop.add_reader(self.master, lambda: ready.done() or ready.set_result(None))
                try:
                    await ready
                finally:
                    loop.remove_reader(self.master)
        return bytes(got)

    def hang_up(self) -> None:
        """Close the master: to the port this looks like the device going away."""
        if not self.closed:
            os.close(self.master)
            self.closed = True

    def cleanup(self) -> None:
        self.hang_up()
        os.close(self._slave)


@pytest.fixture
def pty_device() -> Iterator[PtyDevice]:
    device = PtyDevice()
    try:
        yield device
    finally:
        device.cleanup()
