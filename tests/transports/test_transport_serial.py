"""Serial transport over a real pty pair: the test plays the printer on the master side."""

from __future__ import annotations

import asyncio
import os
import stat
import sys

import pytest

from kkm_bridge.transports import (
    DeviceBusy,
    DeviceNotFound,
    Disconnected,
    PermissionDenied,
    TransportTimeout,
    deadline_in,
    open_transport,
)
from kkm_bridge.transports.serial import SerialTransport

from .conftest import PtyDevice

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pty pairs are POSIX-only")

IO_MODES = ["fd", "thread"]


@pytest.fixture(params=IO_MODES)
async def port(request: pytest.FixtureRequest, pty_device: PtyDevice):
    transport = open_transport(f"serial://{pty_device.port}?baudrate=115200&io={request.param}")
    await transport.connect(deadline_in(5))
    try:
        yield transport
    finally:
        await transport.close()


async def test_write_reaches_the_device(port, pty_device: PtyDevice) -> None:
    frame = bytes.fromhex("FE 06 00 02 C1 01 01 00 00 3F ED")
    await port.write(frame, deadline_in(5))
    assert await pty_device.receive_exactly(len(frame)) == frame


async def test_read_returns_what_arrived(port, pty_device: PtyDevice) -> None:
    pty_device.send(b"\xfe\x00\x00\x01\x9d")
    got = b""
    while len(got) < 5:
        got += await port.read(64, deadline_in(5))
    assert got == b"\xfe\x00\x00\x01\x9d"


async def test_read_respects_max_bytes_and_keeps_the_rest(port, pty_device: PtyDevice) -> None:
    pty_device.send(b"abcdef")
    assert await port.read_exactly(6, deadline_in(5)) == b"abcdef"
    pty_device.send(b"0123456789")
    first = await port.read(3, deadline_in(5))
    assert 1 <= len(first) <= 3
    rest = await port.read_exactly(10 - len(first), deadline_in(5))
    assert first + rest == b"0123456789"


async def test_read_exactly_waits_for_bytes_sent_in_pieces(port, pty_device: PtyDevice) -> None:
    async def trickle() -> None:
        for piece in (b"\xfe", b"\x05\x00", b"\xf0\xa6\x57", b"\x55\x00\x00\xfd\xee"):
            pty_device.send(piece)
            await asyncio.sleep(0.01)

    sender = asyncio.create_task(trickle())
    got = await port.read_exactly(11, deadline_in(5))
    await sender
    assert got == bytes.fromhex("FE 05 00 F0 A6 57 55 00 00 FD EE")


async def test_large_write_and_exact_read_both_ways(port, pty_device: PtyDevice) -> None:
    blob = bytes(range(256)) * 64  # 16 KiB: more than one pty buffer's worth in one write
    writer = asyncio.create_task(port.write(blob, deadline_in(10)))
    assert await pty_device.receive_exactly(len(blob), timeout=10) == blob
    await writer
    sender = asyncio.create_task(pty_device.send_all(blob))
    assert await port.read_exactly(len(blob), deadline_in(10)) == blob
    await sender


async def test_read_timeout_raises_and_keeps_partial_bytes(port, pty_device: PtyDevice) -> None:
    with pytest.raises(TransportTimeout):
        await port.read(1, deadline_in(0.05))
    pty_device.send(b"ab")
    with pytest.raises(TransportTimeout) as excinfo:
        await port.read_exactly(4, deadline_in(0.2))
    assert excinfo.value.partial == b"ab"
    pty_device.send(b"cd")
    assert await port.read_exactly(4, deadline_in(5)) == b"abcd"


async def test_event_loop_keeps_running_while_a_read_waits(port) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    with pytest.raises(TransportTimeout):
        await port.read(1, deadline_in(0.3))
    stop.set()
    await task
    assert ticks > 20  # the loop ran the ticker many times while the read was pending


async def test_device_hangup_is_disconnected(port, pty_device: PtyDevice) -> None:
    pty_device.send(b"x")
    assert await port.read(1, deadline_in(5)) == b"x"
    reader = asyncio.create_task(port.read(1, deadline_in(5)))
    await asyncio.sleep(0.05)
    pty_device.hang_up()
    with pytest.raises(Disconnected):
        await reader
    assert not port.connected
    with pytest.raises(Disconnected):
        await port.write(b"more", deadline_in(1))


async def test_write_after_hangup_is_disconnected(port, pty_device: PtyDevice) -> None:
    pty_device.hang_up()
    with pytest.raises(Disconnected):
        await port.write(b"hello", deadline_in(2))
        await port.read(1, deadline_in(2))


async def test_cancelled_read_loses_no_bytes(port, pty_device: PtyDevice) -> None:
    reader = asyncio.create_task(port.read_exactly(4, deadline_in(5)))
    pty_device.send(b"12")
    await asyncio.sleep(0.1)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    pty_device.send(b"34")
    assert await port.read_exactly(4, deadline_in(5)) == b"1234"


async def test_close_is_idempotent_and_connect_reopens(port, pty_device: PtyDevice) -> None:
    await port.close()
    await port.close()
    assert not port.connected
    await port.connect(deadline_in(5))
    pty_device.send(b"ok")
    assert await port.read_exactly(2, deadline_in(5)) == b"ok"


async def test_missing_port_is_device_not_found(tmp_path) -> None:
    transport = open_transport(f"serial://{tmp_path / 'ttyNOPE0'}")
    with pytest.raises(DeviceNotFound, match="does not exist"):
        await transport.connect(deadline_in(1))
    assert not transport.connected


async def test_second_exclusive_open_is_busy(pty_device: PtyDevice) -> None:
    first = SerialTransport(pty_device.port)
    await first.connect(deadline_in(5))
    try:
        second = SerialTransport(pty_device.port)
        with pytest.raises(DeviceBusy, match="in use"):
            await second.connect(deadline_in(5))
    finally:
        await first.close()


def _connect_as_nobody(port: str) -> str:
    """Fork, drop root in the child, try to open `port`, report the error type and message.

    Root bypasses file permissions, so the permission path can only be exercised for real by an
    unprivileged process.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                asyncio.run(SerialTransport(port).connect(None))
                result = "connected"
            except Exception as exc:  # reported to the parent
                result = f"{type(exc).__name__}: {exc}"
            os.write(write_end, result.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 4096):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


def test_permission_denied_names_the_fix(pty_device: PtyDevice) -> None:
    os.chmod(pty_device.port, 0)
    try:
        if os.geteuid() == 0:
            outcome = _connect_as_nobody(pty_device.port)
        else:
            try:
                asyncio.run(SerialTransport(pty_device.port).connect(None))
                outcome = "connected"
            except PermissionDenied as exc:
                outcome = f"PermissionDenied: {exc}"
    finally:
        os.chmod(pty_device.port, stat.S_IRUSR | stat.S_IWUSR)
    assert outcome.startswith("PermissionDenied:"), outcome
    assert "usermod -aG" in outcome
    assert "kkm-bridge udev-rules" in outcome


async def test_windows_style_uri_is_parsed_as_port_name() -> None:
    transport = open_transport("serial://COM3?baudrate=9600")
    assert isinstance(transport, SerialTransport)
    assert (transport.port, transport.baudrate) == ("COM3", 9600)
    assert open_transport("serial:///COM7").port == "COM7"  # type: ignore[attr-defined]


async def test_close_wakes_a_pending_read(port) -> None:
    reader = asyncio.create_task(port.read(1, deadline_in(10)))
    await asyncio.sleep(0.05)
    await port.close()
    with pytest.raises(Disconnected):
        await asyncio.wait_for(reader, 5)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError(2, "No such file or directory"), DeviceNotFound),
        (OSError(16, "Device or resource busy"), DeviceBusy),
        (OSError(13, "Permission denied"), PermissionDenied),
        (Exception("could not open port 'COM3': FileNotFoundError(2, 'The system cannot find the file')"),
         DeviceNotFound),
        (Exception("could not open port 'COM3': PermissionError(13, 'Access is denied.', None, 5)"),
         DeviceBusy),
    ],
)
def test_open_errors_map_to_types(error: BaseException, expected: type) -> None:
    from kkm_bridge.transports.serial import map_open_error

    assert type(map_open_error("/dev/ttyX", error)) is expected
