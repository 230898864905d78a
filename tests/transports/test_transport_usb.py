"""USB bulk transport against fakes of pyusb's objects (usb.core.find, Device, Endpoint).

No USB hardware or libusb is needed: the fakes stand exactly where pyusb would, and raise the
same exception types with the same errno values libusb produces.
"""

from __future__ import annotations

import array
import asyncio
import errno
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
import usb.core
import usb.util

from kkm_bridge.transports import (
    DeviceBusy,
    DeviceNotFound,
    Disconnected,
    PermissionDenied,
    TransportError,
    TransportTimeout,
    deadline_in,
    open_transport,
)
from kkm_bridge.transports.usb import UsbTarget, UsbTransport

BULK = usb.util.ENDPOINT_TYPE_BULK
INTERRUPT = usb.util.ENDPOINT_TYPE_INTR


def usb_error(code: int, text: str) -> usb.core.USBError:
    return usb.core.USBError(text, error_code=-1, errno=code)


class FakeEndpoint:
    """A pyusb Endpoint: `read(size, timeout_ms)` / `write(data, timeout_ms)`."""

    def __init__(self, device: FakeDevice, address: int, attributes: int, max_packet: int) -> None:
        self.device = device
        self.bEndpointAddress = address
        self.bmAttributes = attributes
        self.wMaxPacketSize = max_packet

    def read(self, size: int, timeout: int) -> array.array:
        return self.device.bulk_read(size, timeout)

    def write(self, data: Any, timeout: int) -> int:
        return self.device.bulk_write(bytes(data), timeout, self.wMaxPacketSize)


@dataclass
class FakeDevice:
    """A pyusb Device with one interface: interrupt IN (ignored), bulk IN 0x81, bulk OUT 0x02."""

    idVendor: int = 0x1A2B
    idProduct: int = 0x3C4D
    bus: int = 1
    address: int = 5
    serial_number: str = "SN0001"
    packet: int = 64
    kernel_driver: bool = True
    configured: bool = False
    written: list[bytes] = field(default_factory=list)
    read_sizes: list[int] = field(default_factory=list)
    read_error: usb.core.USBError | None = None
    write_error: usb.core.USBError | None = None
    to_host: bytearray = field(default_factory=bytearray)
    cond: threading.Condition = field(default_factory=threading.Condition)
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.endpoints = [
            FakeEndpoint(self, 0x83, INTERRUPT, 8),
            FakeEndpoint(self, 0x81, BULK, self.packet),
            FakeEndpoint(self, 0x02, BULK, self.packet),
        ]

    # device side, called by tests
    def send_to_host(self, data: bytes) -> None:
        with self.cond:
            self.to_host += data
            self.cond.notify_all()

    def fail_reads(self, error: usb.core.USBError) -> None:
        with self.cond:
            self.read_error = error
            self.cond.notify_all()

    # pyusb Device API
    def is_kernel_driver_active(self, interface: int) -> bool:
        return self.kernel_driver

    def detach_kernel_driver(self, interface: int) -> None:
        self.calls.append("detach")
        self.kernel_driver = False

    def attach_kernel_driver(self, interface: int) -> None:
        self.calls.append("attach")
        self.kernel_driver = True

    def get_active_configuration(self) -> dict[tuple[int, int], list[FakeEndpoint]]:
        if not self.configured:
            raise usb_error(errno.EIO, "Configuration not set")
        return {(0, 0): self.endpoints}

    def set_configuration(self) -> None:
        self.calls.append("set_configuration")
        self.configured = True

    # endpoint transfers
    def bulk_read(self, size: int, timeout: int) -> array.array:
        self.read_sizes.append(size)
        with self.cond:
            self.cond.wait_for(lambda: self.to_host or self.read_error, timeout / 1000)
            if self.read_error is not None:
                raise self.read_error
            if not self.to_host:
                raise usb.core.USBTimeoutError("Operation timed out", error_code=-7, errno=errno.ETIMEDOUT)
            data = bytes(self.to_host[:size])
            del self.to_host[:size]
        return array.array("B", data)

    def bulk_write(self, data: bytes, timeout: int, packet: int) -> int:
        assert timeout > 0  # 0 would mean "wait forever" to libusb
        if self.write_error is not None:
            raise self.write_error
        self.written.append(data)
        return len(data)


@dataclass
class FakeUsb:
    devices: list[FakeDevice]
    claim_error: usb.core.USBError | None = None
    no_backend: bool = False
    claimed: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    disposed: int = 0


@pytest.fixture
def fake_usb(monkeypatch: pytest.MonkeyPatch) -> FakeUsb:
    state = FakeUsb(devices=[FakeDevice()])

    def find(find_all: bool = False, backend: Any = None, custom_match: Any = None, **attrs: Any) -> Any:
        if state.no_backend:
            raise usb.core.NoBackendError("No backend available")
        found = [
            dev for dev in state.devices
            if all(getattr(dev, key) == value for key, value in attrs.items())
            and (custom_match is None or custom_match(dev))
        ]
        if find_all:
            return iter(found)
        return found[0] if found else None

    def claim_interface(device: FakeDevice, interface: int) -> None:
        if state.claim_error is not None:
            raise state.claim_error
        state.claimed.append(interface)

    def release_interface(device: FakeDevice, interface: int) -> None:
        state.released.append(interface)

    def dispose_resources(device: FakeDevice) -> None:
        state.disposed += 1

    monkeypatch.setattr(usb.core, "find", find)
    monkeypatch.setattr(usb.util, "claim_interface", claim_interface)
    monkeypatch.setattr(usb.util, "release_interface", release_interface)
    monkeypatch.setattr(usb.util, "dispose_resources", dispose_resources)
    return state


async def test_open_detaches_configures_claims_and_closes_fake_usb(fake_usb: FakeUsb) -> None:
    device = fake_usb.devices[0]
    transport = open_transport("usb://1a2b:3c4d")
    await transport.connect(deadline_in(5))
    assert transport.connected
    assert device.calls == ["detach", "set_configuration"]
    assert fake_usb.claimed == [0]
    await transport.close()
    await transport.close()
    assert not transport.connected
    assert fake_usb.released == [0]
    assert device.calls[-1] == "attach"  # the kernel driver gets its device back
    assert fake_usb.disposed == 1


async def test_find_by_bus_address_and_by_serial_fake_usb(fake_usb: FakeUsb) -> None:
    fake_usb.devices.append(FakeDevice(address=9, serial_number="SN0002"))
    by_position = open_transport("usb://001/009")
    assert isinstance(by_position, UsbTransport)
    assert by_position.target == UsbTarget(bus=1, address=9)
    await by_position.connect(deadline_in(5))
    await by_position.close()
    by_serial = open_transport("usb://1A2B:3C4D?serial=SN0002")
    await by_serial.connect(deadline_in(5))
    assert by_serial._device is fake_usb.devices[1]  # type: ignore[attr-defined]
    await by_serial.close()


async def test_large_write_is_chunked_to_max_packet_size_fake_usb(fake_usb: FakeUsb) -> None:
    device = fake_usb.devices[0]
    transport = open_transport("usb://1a2b:3c4d")
    await transport.connect(deadline_in(5))
    payload = bytes(range(256)) * 4 + b"tail"  # 1028 bytes
    await transport.write(payload, deadline_in(5))
    assert b"".join(device.written) == payload
    assert all(len(chunk) <= 64 for chunk in device.written)
    assert len(device.written) == 17
    await transport.close()


async def test_large_read_arrives_in_packets_fake_usb(fake_usb: FakeUsb) -> None:
    device = fake_usb.devices[0]
    transport = open_transport("usb://1a2b:3c4d")
    await transport.connect(deadline_in(5))
    reply = bytes(range(200)) * 3
    device.send_to_host(reply)
    assert await transport.read_exactly(len(reply), deadline_in(5)) == reply
    assert set(device.read_sizes) == {64}  # every transfer asks for one max-size packet
    await transport.close()


async def test_libusb_timeouts_mean_no_data_yet_fake_usb(fake_usb: FakeUsb) -> None:
    device = fake_usb.devices[0]
    transport = open_transport("usb://1a2b:3c4d")
    await transport.connect(deadline_in(5))
    with pytest.raises(TransportTimeout):
        await transport.read(1, deadline_in(0.2))
    assert transport.connected  # timeouts are not errors of the link
    device.send_to_host(b"late")
    assert await transport.read_exactly(4, deadline_in(5)) == b"late"
    await transport.close()


async def test_permission_denied_mentions_udev_fake_usb(fake_usb: FakeUsb) -> None:
    fake_usb.claim_error = usb_error(errno.EACCES, "Access denied (insufficient permissions)")
    transport = open_transport("usb://1a2b:3c4d")
    with pytest.raises(PermissionDenied) as excinfo:
        await transport.connect(deadline_in(5))
    message = str(excinfo.value)
    assert "udev" in message and "kkm-bridge udev-rules" in message and "usermod -aG" in message
    assert not transport.connected


async def test_busy_device_is_device_busy_fake_usb(fake_usb: FakeUsb) -> None:
    fake_usb.claim_error = usb_error(errno.EBUSY, "Resource busy")
    with pytest.raises(DeviceBusy, match="busy"):
        await open_transport("usb://1a2b:3c4d").connect(deadline_in(5))


async def test_missing_device_and_missing_backend_fake_usb(fake_usb: FakeUsb) -> None:
    with pytest.raises(DeviceNotFound, match="ffff:0001 not found"):
        await open_transport("usb://ffff:0001").connect(deadline_in(5))
    fake_usb.no_backend = True
    with pytest.raises(TransportError, match="libusb"):
        await open_transport("usb://1a2b:3c4d").connect(deadline_in(5))


async def test_unplug_during_read_is_disconnected_fake_usb(fake_usb: FakeUsb) -> None:
    device = fake_usb.devices[0]
    transport = open_transport("usb://1a2b:3c4d")
    await transport.connect(deadline_in(5))
    device.fail_reads(usb_error(errno.ENODEV, "No such device (it may have been disconnected)"))
    with pytest.raises(Disconnected):
        await transport.read(1, deadline_in(5))
    assert not transport.connected
    # Reconnecting finds the device again once it is back.
    device.read_error = None
    await transport.connect(deadline_in(5))
    device.send_to_host(b"hi")
    assert await transport.read_exactly(2, deadline_in(5)) == b"hi"
    await transport.close()


async def test_unplug_during_write_is_disconnected_fake_usb(fake_usb: FakeUsb) -> None:
    device = fake_usb.devices[0]
    transport = open_transport("usb://1a2b:3c4d")
    await transport.connect(deadline_in(5))
    device.write_error = usb_error(errno.ENODEV, "No such device (it may have been disconnected)")
    with pytest.raises(Disconnected):
        await transport.write(b"\xfe\x01\x00\x06\xc4\x58", deadline_in(5))
    assert not transport.connected


async def test_interface_without_bulk_pair_is_a_clear_error_fake_usb(fake_usb: FakeUsb) -> None:
    device = fake_usb.devices[0]
    device.endpoints = device.endpoints[:1]  # only the interrupt endpoint
    with pytest.raises(TransportError, match="no bulk IN/OUT endpoint pair"):
        await open_transport("usb://1a2b:3c4d").connect(deadline_in(5))


async def test_close_wakes_a_pending_read_fake_usb(fake_usb: FakeUsb) -> None:
    transport = open_transport("usb://1a2b:3c4d")
    await transport.connect(deadline_in(5))
    reader = asyncio.create_task(transport.read(1, deadline_in(10)))
    await asyncio.sleep(0.1)
    await transport.close()
    with pytest.raises(Disconnected):
        await asyncio.wait_for(reader, 5)
