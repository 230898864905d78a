"""TCP links (ATOL devices with Ethernet/Wi-Fi listen on port 5555, atol-protocol.md §1.1).

asyncio streams; the same ATOL frames travel over TCP as over serial. TCP_NODELAY is set because
the protocol is request/reply with small frames: Nagle's algorithm would add up to ~40 ms to
every exchange.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

from kkm_bridge.transports.base import Deadline, Transport, timeout_error
from kkm_bridge.transports.errors import DeviceNotFound, Disconnected, PermissionDenied, TransportError

logger = logging.getLogger(__name__)

DEFAULT_PORT = 5555
_READ_CHUNK = 4096
_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN})


class TcpTransport(Transport):
    """A TCP connection to `host:port`."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, nodelay: bool = True,
                 address: str | None = None) -> None:
        shown_host = f"[{host}]" if ":" in host else host
        super().__init__(address or f"tcp://{shown_host}:{port}")
        self.host = host
        self.port = port
        self.nodelay = nodelay
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def connect(self, deadline: Deadline = None) -> None:
        if self._writer is not None:
            return
        try:
            async with asyncio.timeout_at(deadline):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            raise timeout_error(self.address, "connect") from None
        except ConnectionRefusedError as exc:
            raise DeviceNotFound(
                f"{self.address}: connection refused (nothing listening; is the printer on and the port right?)"
            ) from exc
        except socket.gaierror as exc:
            raise DeviceNotFound(f"{self.address}: cannot resolve host {self.host!r}: {exc.strerror}") from exc
        except PermissionError as exc:
            raise PermissionDenied(f"{self.address}: connection not permitted (firewall?): {exc}") from exc
        except OSError as exc:
            if exc.errno in _UNREACHABLE:
                raise DeviceNotFound(f"{self.address}: host unreachable: {exc.strerror}") from exc
            raise TransportError(f"{self.address}: connect failed: {exc}") from exc
        sock = writer.get_extra_info("socket")
        if self.nodelay and sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader, self._writer = reader, writer
        self._rx.clear()
        logger.info("%s: connected", self.address)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        try:
            await writer.wait_closed()
        except OSError as exc:
            logger.debug("%s: error while closing (ignored): %s", self.address, exc)
        logger.info("%s: closed", self.address)

    def _drop(self, reason: str) -> Disconnected:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
        logger.warning("%s: disconnected: %s", self.address, reason)
        return Disconnected(f"{self.address}: disconnected ({reason})")

    async def _read_some(self, max_bytes: int, deadline: Deadline) -> bytes:
        reader = self._reader
        if reader is None:
            raise Disconnected(f"{self.address}: not connected")
        try:
            async with asyncio.timeout_at(deadline):
                data = await reader.read(max(max_bytes, _READ_CHUNK))
        except TimeoutError:
            raise timeout_error(self.address, "receive data") from None
        except OSError as exc:  # ConnectionResetError and friends
            raise self._drop(f"read: {exc}") from exc
        if not data:
            raise self._drop("peer closed the connection")
        return data

    async def _write(self, data: bytes, deadline: Deadline) -> None:
        writer = self._writer
        if writer is None:
            raise Disconnected(f"{self.address}: not connected")
        if writer.is_closing():
            raise self._drop("connection closing")
        try:
            writer.write(data)
            async with asyncio.timeout_at(deadline):
                await writer.drain()
        except TimeoutError:
            raise timeout_error(self.address, "send data") from None
        except OSError as exc:  # ConnectionResetError, BrokenPipeError
            raise self._drop(f"write: {exc}") from exc
