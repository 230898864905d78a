"""TCP transport against real asyncio servers on 127.0.0.1 (ephemeral ports)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kkm_bridge.transports import (
    DeviceNotFound,
    Disconnected,
    TransportTimeout,
    connect_with_retries,
    deadline_in,
    open_transport,
)
from kkm_bridge.transports.tcp import TcpTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    def __init__(self, server: asyncio.Server) -> None:
        self.server = server
        self.port: int = server.sockets[0].getsockname()[1]
        self.uri = f"tcp://127.0.0.1:{self.port}"


async def _serve(handler: Handler) -> Server:
    return Server(await asyncio.start_server(handler, "127.0.0.1", 0))


@pytest.fixture
async def echo_server() -> AsyncIterator[Server]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await _serve(echo)
    async with server.server:
        yield server


async def test_echo_round_trip(echo_server: Server) -> None:
    transport = open_transport(echo_server.uri)
    await transport.connect(deadline_in(5))
    try:
        assert transport.connected
        frame = bytes.fromhex("FE 02 00 04 C2 01 20")
        await transport.write(frame, deadline_in(5))
        assert await transport.read_exactly(len(frame), deadline_in(5)) == frame
        blob = bytes(range(256)) * 512  # 128 KiB: several socket buffers
        writer = asyncio.create_task(transport.write(blob, deadline_in(10)))
        assert await transport.read_exactly(len(blob), deadline_in(10)) == blob
        await writer
    finally:
        await transport.close()
    assert not transport.connected


async def test_read_timeout_keeps_the_connection(echo_server: Server) -> None:
    transport = open_transport(echo_server.uri)
    await transport.connect(deadline_in(5))
    try:
        with pytest.raises(TransportTimeout):
            await transport.read(1, deadline_in(0.05))
        assert transport.connected
        await transport.write(b"still here", deadline_in(5))
        assert await transport.read_exactly(10, deadline_in(5)) == b"still here"
    finally:
        await transport.close()


async def test_server_closing_is_disconnected() -> None:
    async def greet_and_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        await writer.drain()
        writer.close()

    server = await _serve(greet_and_hang_up)
    async with server.server:
        transport = open_transport(server.uri)
        await transport.connect(deadline_in(5))
        assert await transport.read_exactly(3, deadline_in(5)) == b"bye"
        with pytest.raises(Disconnected, match="peer closed"):
            await transport.read(1, deadline_in(5))
        assert not transport.connected
        with pytest.raises(Disconnected):
            await transport.write(b"x", deadline_in(1))


async def test_short_read_then_close_is_disconnected_with_bytes_kept() -> None:
    async def half_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\xfe\x05")
        await writer.drain()
        writer.close()

    server = await _serve(half_frame)
    async with server.server:
        transport = open_transport(server.uri)
        await transport.connect(deadline_in(5))
        with pytest.raises(Disconnected):
            await transport.read_exactly(5, deadline_in(5))
        # What did arrive is still there for whoever wants to log or inspect it.
        assert await transport.read(5, deadline_in(0)) == b"\xfe\x05"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_is_device_not_found() -> None:
    transport = open_transport(f"tcp://127.0.0.1:{_free_port()}")
    with pytest.raises(DeviceNotFound, match="refused"):
        await transport.connect(deadline_in(5))
    assert not transport.connected


async def test_connect_with_retries_gives_up_after_the_bound() -> None:
    transport = open_transport(f"tcp://127.0.0.1:{_free_port()}")
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    with pytest.raises(DeviceNotFound):
        await connect_with_retries(transport, deadline_in(5), attempts=3, delay=0.25, sleep=no_sleep)
    assert waits == [0.25, 0.25]


async def test_connect_with_retries_succeeds_when_the_server_appears() -> None:
    port = _free_port()
    transport = open_transport(f"tcp://127.0.0.1:{port}")
    servers: list[asyncio.Server] = []

    async def start_server_then_wait(seconds: float) -> None:
        async def idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        servers.append(await asyncio.start_server(idle, "127.0.0.1", port))

    await connect_with_retries(transport, deadline_in(5), attempts=2, delay=0, sleep=start_server_then_wait)
    assert transport.connected
    await transport.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_default_port_is_5555() -> None:
    transport = open_transport("tcp://printer.local")
    assert isinstance(transport, TcpTransport)
    assert (transport.host, transport.port) == ("printer.local", 5555)
    v6 = open_transport("tcp://[::1]:6000")
    assert (v6.host, v6.port) == ("::1", 6000)  # type: ignore[attr-defined]


async def test_close_wakes_a_pending_read(echo_server: Server) -> None:
    transport = open_transport(echo_server.uri)
    await transport.connect(deadline_in(5))
    reader = asyncio.create_task(transport.read(1, deadline_in(10)))
    await asyncio.sleep(0.05)
    await transport.close()
    with pytest.raises(Disconnected):
        await asyncio.wait_for(reader, 5)
