"""BLE transport against a fake BleakClient / BleakScanner at bleak's API boundary.

The GATT service tree uses bleak's own data classes (BleakGATTServiceCollection, ...), so the
transport sees exactly the objects a real backend hands it; only the radio is fake.
"""

from __future__ import annotations

import asyncio
from typing import Any

import bleak
import pytest
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

from kkm_bridge.transports import (
    DeviceNotFound,
    Disconnected,
    TransportError,
    TransportTimeout,
    deadline_in,
    open_transport,
)
from kkm_bridge.transports.ble import NUS_RX, NUS_SERVICE, NUS_TX, BleTransport

ADDRESS = "AA:BB:CC:DD:EE:FF"


def gatt(rx_properties: list[str], *, max_without_response: int = 244) -> BleakGATTServiceCollection:
    services = BleakGATTServiceCollection()
    service = BleakGATTService(None, 10, NUS_SERVICE)
    services.add_service(service)
    for handle, uuid, props in ((11, NUS_RX, rx_properties), (13, NUS_TX, ["notify"])):
        services.add_characteristic(
            BleakGATTCharacteristic(None, handle, uuid, props, lambda: max_without_response, service)
        )
    return services


class FakeRadio:
    """What the fake clients share: the device's GATT table, MTU, and everything written."""

    def __init__(self) -> None:
        self.rx_properties = ["write", "write-without-response"]
        self.mtu = 185
        self.present = True
        self.connect_failures = 0
        self.clients: list[FakeBleakClient] = []
        self.writes: list[tuple[bytes, bool]] = []

    @property
    def client(self) -> FakeBleakClient:
        return self.clients[-1]


class FakeBleakClient:
    """Stands in for bleak.BleakClient (same constructor and the methods the transport uses)."""

    radio: FakeRadio

    def __init__(self, address_or_ble_device: Any, disconnected_callback: Any = None,
                 services: Any = None, *, timeout: float = 30, **kwargs: Any) -> None:
        assert isinstance(address_or_ble_device, BLEDevice)  # a fresh scan result, not an address
        self.device = address_or_ble_device
        self._disconnected_callback = disconnected_callback
        self._connected = False
        self._notify: dict[str, Any] = {}
        self.radio.clients.append(self)

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def mtu_size(self) -> int:
        return self.radio.mtu

    @property
    def services(self) -> BleakGATTServiceCollection:
        return self._services

    async def connect(self, **kwargs: Any) -> None:
        if self.radio.connect_failures > 0:
            self.radio.connect_failures -= 1
            raise BleakError("Device disconnected during connect")
        self._services = gatt(self.radio.rx_properties)
        self._connected = True

    async def disconnect(self) -> None:
        if self._connected:
            self._connected = False
            if self._disconnected_callback is not None:
                self._disconnected_callback(self)

    async def start_notify(self, char: BleakGATTCharacteristic, callback: Any, **kwargs: Any) -> None:
        assert "notify" in char.properties
        self._notify[char.uuid] = callback

    async def stop_notify(self, char: BleakGATTCharacteristic) -> None:
        self._notify.pop(char.uuid, None)

    async def write_gatt_char(self, char: BleakGATTCharacteristic, data: Any, response: bool | None = None) -> None:
        if not self._connected:
            raise BleakError("Not connected")
        assert response is not None, "always choose the write type explicitly"
        if response:
            assert "write" in char.properties
        self.radio.writes.append((bytes(data), response))

    # test-side controls
    def notify(self, data: bytes) -> None:
        callback = self._notify[NUS_TX]
        tx = self._services.get_characteristic(NUS_TX)
        callback(tx, bytearray(data))

    def drop(self) -> None:
        """The radio link goes away (printer switched off / out of range)."""
        self._connected = False
        if self._disconnected_callback is not None:
            self._disconnected_callback(self)


@pytest.fixture
def radio(monkeypatch: pytest.MonkeyPatch) -> FakeRadio:
    state = FakeRadio()

    class Client(FakeBleakClient):
        radio = state

    async def find_device_by_address(address: str, timeout: float = 10.0, **kwargs: Any) -> BLEDevice | None:
        if not state.present or address.upper() != ADDRESS:
            return None
        return BLEDevice(address, "ATOL-BLE", details=None)

    monkeypatch.setattr(bleak, "BleakClient", Client)
    monkeypatch.setattr(bleak.BleakScanner, "find_device_by_address", staticmethod(find_device_by_address))
    return state


async def connected(uri: str = f"ble://{ADDRESS}?reconnect_delay=0") -> BleTransport:
    transport = open_transport(uri)
    assert isinstance(transport, BleTransport)
    await transport.connect(deadline_in(5))
    return transport


async def test_writes_chunked_to_mtu_minus_3_with_response_fake_ble(radio: FakeRadio) -> None:
    transport = await connected()
    assert transport.chunk_size == 182 and transport.writes_with_response
    payload = bytes(range(256)) * 2  # 512 bytes -> 182 + 182 + 148
    await transport.write(payload, deadline_in(5))
    assert [len(data) for data, _ in radio.writes] == [182, 182, 148]
    assert b"".join(data for data, _ in radio.writes) == payload
    assert all(response for _, response in radio.writes)
    await transport.close()


async def test_without_write_property_writes_without_response_fake_ble(radio: FakeRadio) -> None:
    radio.rx_properties = ["write-without-response"]
    radio.mtu = 247
    transport = await connected()
    assert not transport.writes_with_response
    assert transport.chunk_size == 244  # min(MTU - 3, max_write_without_response_size)
    await transport.write(b"x" * 300, deadline_in(5))
    assert [(len(data), response) for data, response in radio.writes] == [(244, False), (56, False)]
    await transport.close()


async def test_minimum_mtu_gives_20_byte_chunks_and_options_override_fake_ble(radio: FakeRadio) -> None:
    radio.mtu = 23  # what BlueZ reports
    transport = await connected()
    await transport.write(b"y" * 45, deadline_in(5))
    assert [len(data) for data, _ in radio.writes] == [20, 20, 5]
    await transport.close()
    radio.writes.clear()
    forced = await connected(f"ble://{ADDRESS}?response=false&chunk=16")
    await forced.write(b"z" * 20, deadline_in(5))
    assert [(len(d), r) for d, r in radio.writes] == [(16, False), (4, False)]
    await forced.close()


async def test_notifications_become_reads_fake_ble(radio: FakeRadio) -> None:
    transport = await connected()
    radio.client.notify(b"\xfe\x05\x00")
    radio.client.notify(b"\xf0\xa6\x57\x55\x00\x00\xfd\xee")
    assert await transport.read_exactly(11, deadline_in(5)) == bytes.fromhex("FE 05 00 F0 A6 57 55 00 00 FD EE")
    with pytest.raises(TransportTimeout):
        await transport.read(1, deadline_in(0.05))

    async def later() -> None:
        await asyncio.sleep(0.02)
        radio.client.notify(b"ok")

    sender = asyncio.create_task(later())
    assert await transport.read_exactly(2, deadline_in(5)) == b"ok"
    await sender
    await transport.close()
    assert not transport.connected


async def test_drop_is_reported_then_link_reconnects_fake_ble(radio: FakeRadio) -> None:
    transport = await connected()
    first_client = radio.client
    radio.client.notify(b"before")
    reader = asyncio.create_task(transport.read_exactly(10, deadline_in(5)))
    await asyncio.sleep(0.01)
    first_client.drop()
    with pytest.raises(Disconnected, match="dropped"):
        await reader
    # Bytes received before the drop are kept; the transport reconnected on its own.
    assert await transport.read_exactly(6, deadline_in(5)) == b"before"
    await transport.write(b"again", deadline_in(5))
    assert transport.connected
    assert len(radio.clients) == 2 and radio.client is not first_client
    assert radio.writes[-1] == (b"again", True)
    radio.client.notify(b"reply")
    assert await transport.read_exactly(5, deadline_in(5)) == b"reply"
    await transport.close()


async def test_drop_between_operations_is_reported_once_fake_ble(radio: FakeRadio) -> None:
    transport = await connected()
    radio.client.drop()
    with pytest.raises(Disconnected):
        await transport.write(b"lost?", deadline_in(5))
    await transport.write(b"resent", deadline_in(5))  # waits for the reconnect, then succeeds
    assert radio.writes[-1] == (b"resent", True)
    await transport.close()


async def test_reconnect_attempts_are_bounded_fake_ble(radio: FakeRadio) -> None:
    transport = await connected(f"ble://{ADDRESS}?reconnect=2&reconnect_delay=0")
    radio.present = False
    radio.client.drop()
    with pytest.raises(Disconnected):
        await transport.read(1, deadline_in(5))  # reports the drop
    with pytest.raises(Disconnected, match="2 reconnect attempts failed"):
        await transport.read(1, deadline_in(5))
    assert not transport.connected
    radio.present = True
    await transport.connect(deadline_in(5))  # an explicit connect starts over
    assert transport.connected
    await transport.close()


async def test_close_is_not_a_drop_fake_ble(radio: FakeRadio) -> None:
    transport = await connected()
    await transport.close()
    await asyncio.sleep(0)
    assert len(radio.clients) == 1  # no reconnect after our own disconnect
    with pytest.raises(Disconnected):
        await transport.read(1, deadline_in(0.1))


async def test_device_absent_and_wrong_service_fake_ble(radio: FakeRadio) -> None:
    radio.present = False
    with pytest.raises(DeviceNotFound, match="advertising"):
        await open_transport(f"ble://{ADDRESS}").connect(deadline_in(5))
    radio.present = True
    other = open_transport(f"ble://{ADDRESS}?service=ffe0&rx=ffe1&tx=ffe1")
    with pytest.raises(TransportError, match="0000ffe0-0000-1000-8000-00805f9b34fb not found"):
        await other.connect(deadline_in(5))
    assert not other.connected
    assert not radio.client.is_connected  # the half-set-up connection was released


async def test_connect_failure_is_a_transport_error_fake_ble(radio: FakeRadio) -> None:
    radio.connect_failures = 1
    transport = open_transport(f"ble://{ADDRESS}")
    with pytest.raises(TransportError, match="connect failed"):
        await transport.connect(deadline_in(5))
    await transport.connect(deadline_in(5))
    await transport.close()


def test_ble_uri_defaults_and_short_uuids() -> None:
    transport = open_transport("ble://aa:bb:cc:dd:ee:ff")
    assert isinstance(transport, BleTransport)
    assert transport.device_address == ADDRESS
    assert (transport.service_uuid, transport.rx_uuid, transport.tx_uuid) == (NUS_SERVICE, NUS_RX, NUS_TX)
    hm10 = open_transport("ble://AA:BB:CC:DD:EE:FF?service=FFE0&rx=ffe1&tx=ffe1&reconnect=0")
    assert hm10.rx_uuid == "0000ffe1-0000-1000-8000-00805f9b34fb"  # type: ignore[attr-defined]
    mac_os = open_transport("ble://6ba7b810-9dad-11d1-80b4-00c04fd430c8")
    assert mac_os.device_address == "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"  # type: ignore[attr-defined]


async def test_close_wakes_a_pending_read_fake_ble(radio: FakeRadio) -> None:
    transport = await connected()
    reader = asyncio.create_task(transport.read(1, deadline_in(10)))
    await asyncio.sleep(0.01)
    await transport.close()
    with pytest.raises(Disconnected):
        await asyncio.wait_for(reader, 5)


async def test_reconnect_survives_a_failed_attempt_fake_ble(radio: FakeRadio) -> None:
    transport = await connected()
    radio.connect_failures = 1  # the first reconnect attempt fails, the second works
    radio.client.drop()
    with pytest.raises(Disconnected):
        await transport.write(b"lost?", deadline_in(5))
    await transport.write(b"resent", deadline_in(5))
    assert len(radio.clients) == 3 and transport.connected
    await transport.close()


async def test_connect_with_retries_retries_transient_ble_failures_fake_ble(radio: FakeRadio) -> None:
    from kkm_bridge.transports import connect_with_retries

    radio.connect_failures = 2
    transport = open_transport(f"ble://{ADDRESS}")
    await connect_with_retries(transport, deadline_in(5), attempts=3, delay=0)
    assert transport.connected
    await transport.close()
