"""URI parsing, the scheme registry, and the base-class guarantees (via the in-memory pipe)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from kkm_bridge.transports import (
    Disconnected,
    InvalidAddress,
    MemoryTransport,
    TransportAddress,
    TransportTimeout,
    deadline_in,
    memory_pipe,
    open_transport,
    register_scheme,
    registered_schemes,
    unregister_scheme,
)
from kkm_bridge.transports.serial import SerialTransport
from kkm_bridge.transports.tcp import TcpTransport


@pytest.mark.parametrize(
    ("uri", "port", "baudrate"),
    [
        ("serial:///dev/ttyACM0", "/dev/ttyACM0", 115200),
        ("serial:///dev/ttyUSB1?baudrate=57600", "/dev/ttyUSB1", 57600),
        ("serial://COM3", "COM3", 115200),
        ("SERIAL:///dev/serial/by-id/usb-ATOL_x-if00", "/dev/serial/by-id/usb-ATOL_x-if00", 115200),
    ],
)
def test_serial_uris(uri: str, port: str, baudrate: int) -> None:
    transport = open_transport(uri)
    assert isinstance(transport, SerialTransport)
    assert (transport.port, transport.baudrate, transport.exclusive) == (port, baudrate, True)


def test_keyword_options_override_the_query() -> None:
    transport = open_transport("serial:///dev/ttyS0?baudrate=9600", baudrate=19200, exclusive=False)
    assert isinstance(transport, SerialTransport)
    assert (transport.baudrate, transport.exclusive) == (19200, False)


def test_tcp_uri() -> None:
    transport = open_transport("tcp://10.0.0.5:5555?nodelay=false")
    assert isinstance(transport, TcpTransport)
    assert (transport.host, transport.port, transport.nodelay) == ("10.0.0.5", 5555, False)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("/dev/ttyACM0", "not a transport URI"),
        ("ftp://host", "unknown transport scheme 'ftp'"),
        ("serial://", "missing port"),
        ("serial://dev/ttyACM0", "three slashes"),
        ("serial:///dev/ttyACM0?baudrate=fast", "baudrate='fast' is not an integer"),
        ("serial:///dev/ttyACM0?baudrate=0", "must be >= 1"),
        ("serial:///dev/ttyACM0?baud=9600", "unknown option(s) baud"),
        ("serial:///dev/ttyACM0?baudrate=9600&baudrate=115200", "more than once"),
        ("serial:///dev/ttyACM0?exclusive=maybe", "not a boolean"),
        ("serial:///dev/ttyACM0?io=magic", "must be one of auto, fd, thread"),
        ("serial:///dev/ttyACM0#frag", "fragments"),
        ("tcp://", "missing host"),
        ("tcp://host:notaport", "port must be a number"),
        ("tcp://host:70000", "port must be a number"),
        ("tcp://host:5555/path", "no path"),
        ("usb://", "usb://VID:PID"),
        ("usb://2912", "usb://VID:PID"),
        ("usb://29121:0005", "4 hex digits"),
        ("usb://zz12:0005", "4 hex digits"),
        ("usb://1/0", "1..127"),
        ("usb://1/5?serial=ABC", "only applies to usb://VID:PID"),
        ("ble://", "missing device address"),
        ("ble://not-an-address", "not a Bluetooth address"),
        ("ble://AA:BB:CC:DD:EE:FF?service=nope", "not a UUID"),
        ("ble://AA:BB:CC:DD:EE:FF?response=sometimes", "must be one of auto, true, false"),
    ],
)
def test_bad_uris_say_what_is_wrong(uri: str, message: str) -> None:
    with pytest.raises(InvalidAddress) as excinfo:
        open_transport(uri)
    assert message in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)  # usable where a ValueError is expected


def test_importing_transports_does_not_import_usb_or_bleak() -> None:
    import subprocess

    code = (
        "import sys, kkm_bridge.transports as t; "
        "t.open_transport('serial:///dev/null'); t.open_transport('tcp://h'); "
        "print('usb' in sys.modules, 'bleak' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


# -- the registry: an in-memory loopback device registered by the test ----------------------


class LoopbackDevice:
    """A device that answers every byte it receives with the same byte (in-process)."""

    def __init__(self, device_end: MemoryTransport) -> None:
        self.end = device_end
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            while True:
                data = await self.end.read(4096, None)
                await self.end.write(data, None)
        except Disconnected:
            pass


def _loopback_factory(address: TransportAddress) -> MemoryTransport:
    name = address.netloc or "default"
    chunk = address.get_int("chunk", 4096, minimum=1)  # read options like a real factory would
    host_end, device_end = memory_pipe(f"loop://{name}", f"loop-device://{name}")
    device = LoopbackDevice(device_end)

    async def _start_device_then_connect(deadline: float | None) -> None:
        await device_end.connect(deadline)
        device.task = asyncio.create_task(device.run())
        await MemoryTransport.connect(host_end, deadline)

    host_end.connect = _start_device_then_connect  # type: ignore[method-assign]
    host_end.chunk = chunk  # type: ignore[attr-defined]
    return host_end


@pytest.fixture
def loop_scheme():
    register_scheme("loop", _loopback_factory)
    try:
        yield
    finally:
        unregister_scheme("loop")


async def test_registered_scheme_is_opened_by_uri(loop_scheme: None) -> None:
    assert "loop" in registered_schemes()
    transport = open_transport("loop://one?chunk=16")
    assert transport.chunk == 16  # type: ignore[attr-defined]
    await transport.connect(deadline_in(1))
    await transport.write(b"\xfe\x00\x00\x01\x9d", deadline_in(1))
    assert await transport.read_exactly(5, deadline_in(1)) == b"\xfe\x00\x00\x01\x9d"
    await transport.close()


async def test_registered_scheme_options_are_checked(loop_scheme: None) -> None:
    with pytest.raises(InvalidAddress, match="unknown option"):
        open_transport("loop://one?chunky=1")


def test_registering_a_taken_scheme_needs_replace() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_scheme("serial", _loopback_factory)
    with pytest.raises(ValueError, match="invalid scheme"):
        register_scheme("no such", _loopback_factory)


# -- base-class behaviour, exercised through the memory pipe ---------------------------------


async def test_memory_pipe_semantics() -> None:
    host, device = memory_pipe()
    await device.connect(None)
    await host.connect(None)
    await device.write(b"hello", deadline_in(1))
    assert await host.read(2, deadline_in(1)) == b"he"
    assert await host.read(100, deadline_in(0)) == b"llo"  # available bytes, no waiting
    with pytest.raises(TransportTimeout):
        await host.read(1, deadline_in(0))
    await device.write(b"xyz", None)
    assert host.discard_input() == 0  # not yet read from the pipe into the buffer
    assert await host.read(1, None) == b"x"
    assert host.discard_input() == 2
    assert await host.read_exactly(0, None) == b""
    with pytest.raises(ValueError):
        await host.read(0, None)
    await device.close()
    with pytest.raises(Disconnected):
        await host.read(1, deadline_in(1))
    with pytest.raises(Disconnected):
        await host.write(b"x", None)


async def test_memory_close_wakes_a_pending_read() -> None:
    host, device = memory_pipe()
    await device.connect(None)
    await host.connect(None)
    reader = asyncio.create_task(host.read(1, None))
    await asyncio.sleep(0)
    await host.close()
    with pytest.raises(Disconnected):
        await asyncio.wait_for(reader, 5)


def test_sim_scheme_explains_where_it_comes_from() -> None:
    if "sim" in registered_schemes():
        pytest.skip("the simulator package registered sim:// in this process")
    with pytest.raises(InvalidAddress, match="simulator package"):
        open_transport("sim://")
