"""Bluetooth LE printers through bleak, as a byte stream over two GATT characteristics.

The usual "serial over BLE" layout (Nordic UART Service) is the default: the host writes to the
RX characteristic and receives notifications from the TX characteristic (names are from the
device's point of view). Other layouts are configured with ``service``, ``rx`` and ``tx``.

Choices, from experience with BLE printers (prior-art.md §8):

* a fresh `BLEDevice` from a scan for every connection, never a reused client;
* writes are chunked (negotiated ATT MTU - 3 bytes; long writes corrupt data on some devices);
* write-with-response when the characteristic offers it (printers are more reliable that way),
  write-without-response otherwise (forcing a response where it is not offered fails);
* after an unexpected drop, reconnect in the background a bounded number of times. The drop is
  still reported: the read or write in progress (or the next one) raises `Disconnected` once,
  because bytes may have been lost and the protocol above must resynchronise. Later operations
  wait for the reconnect within their own deadlines.

bleak is imported only when a BLE link is actually opened.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any, Literal

from kkm_bridge.transports.base import Deadline, Transport, deadline_in, remaining, timeout_error
from kkm_bridge.transports.errors import DeviceNotFound, Disconnected, TransportError, TransportTimeout

if TYPE_CHECKING:
    from kkm_bridge.transports.uri import TransportAddress

logger = logging.getLogger(__name__)

NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
NUS_RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # host writes here
NUS_TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # device notifies here

_BLUETOOTH_BASE_UUID_TAIL = "-0000-1000-8000-00805f9b34fb"
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_ATT_HEADER = 3  # opcode + attribute handle
_MIN_CHUNK = 20  # payload of the minimum ATT MTU (23)
_MAX_CHUNK = 512  # largest attribute value
_DEFAULT_CONNECT_SECONDS = 20.0  # when connect() has no deadline; BLE connects can be slow
_SCAN_SECONDS = 10.0  # longest wait for the device's advertisement before each connect

ResponseMode = Literal["auto", "true", "false"]


def normalize_uuid(text: str) -> str:
    """Lower-case 128-bit form; 16- and 32-bit short UUIDs expand with the Bluetooth base UUID."""
    raw = text.strip().lower()
    if re.fullmatch(r"[0-9a-f]{4}", raw):
        raw = "0000" + raw
    if re.fullmatch(r"[0-9a-f]{8}", raw):
        return raw + _BLUETOOTH_BASE_UUID_TAIL
    return str(uuid.UUID(raw))  # raises ValueError on anything else


class BleTransport(Transport):
    """A BLE peripheral at `device_address` (a MAC address, or the UUID macOS uses instead)."""

    def __init__(
        self,
        device_address: str,
        *,
        service: str = NUS_SERVICE,
        rx: str = NUS_RX,
        tx: str = NUS_TX,
        response: ResponseMode = "auto",
        chunk: int = 0,
        reconnect_attempts: int = 3,
        reconnect_delay: float = 1.0,
        address: str | None = None,
    ) -> None:
        super().__init__(address or f"ble://{device_address}")
        self.device_address = device_address
        self.service_uuid = normalize_uuid(service)
        self.rx_uuid = normalize_uuid(rx)
        self.tx_uuid = normalize_uuid(tx)
        self.response_mode: ResponseMode = response
        self.chunk_override = chunk
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_delay = reconnect_delay
        self._client: Any = None
        self._rx_char: Any = None
        self._tx_char: Any = None
        self._with_response = False
        self._chunk = _MIN_CHUNK
        self._incoming = bytearray()
        self._arrived = asyncio.Event()
        self._closing = False
        self._drops = 0  # link drops seen
        self._drops_reported = 0  # ... of which a caller has been told
        self._reconnect_task: asyncio.Task[None] | None = None
        self._gave_up: TransportError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and bool(self._client.is_connected)

    @property
    def chunk_size(self) -> int:
        """Bytes per GATT write on the current connection."""
        return self._chunk

    @property
    def writes_with_response(self) -> bool:
        return self._with_response

    # -- connecting ---------------------------------------------------------------------------

    async def connect(self, deadline: Deadline = None) -> None:
        if self.connected:
            return
        task = self._reconnect_task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._reconnect_task = None
        self._gave_up = None
        self._drops_reported = self._drops  # an explicit connect acknowledges earlier drops
        self._loop = asyncio.get_running_loop()
        await self._open(deadline)
        self._rx.clear()

    async def _open(self, deadline: Deadline) -> None:
        import bleak
        from bleak.exc import BleakError

        budget = remaining(deadline)
        if budget is None:
            budget = _DEFAULT_CONNECT_SECONDS
            deadline = deadline_in(budget)
        try:
            # The scan has its own bound, so "not there" is DeviceNotFound rather than a timeout.
            device = await bleak.BleakScanner.find_device_by_address(
                self.device_address, timeout=max(0.1, min(budget, _SCAN_SECONDS))
            )
            if device is None:
                raise DeviceNotFound(
                    f"{self.address}: no BLE device with this address is advertising "
                    "(is it on, in range, and not connected to another host?)"
                )
            left = remaining(deadline) or 0.0
            client = bleak.BleakClient(device, disconnected_callback=self._on_disconnect, timeout=max(left, 0.1))
            async with asyncio.timeout_at(deadline):
                await client.connect()
        except TimeoutError:
            raise timeout_error(self.address, "connect over Bluetooth LE") from None
        except BleakError as exc:
            error = TransportError(f"{self.address}: Bluetooth LE connect failed: {exc}")
            error.retryable = True  # BLE connects fail transiently all the time; a retry often works
            raise error from exc
        except OSError as exc:
            raise TransportError(f"{self.address}: Bluetooth not available: {exc}") from exc

        try:
            self._setup_characteristics(client)
            self._incoming.clear()
            self._client = client
            await client.start_notify(self._tx_char, self._on_notify)
        except BaseException as exc:
            self._client = None
            self._closing = True
            try:
                await client.disconnect()
            except Exception:  # already failing; report the original problem
                pass
            finally:
                self._closing = False
            if isinstance(exc, BleakError):
                raise TransportError(f"{self.address}: cannot subscribe to notifications: {exc}") from exc
            raise
        logger.info(
            "%s: connected (MTU %s, %d-byte writes %s response)", self.address, client.mtu_size,
            self._chunk, "with" if self._with_response else "without",
        )

    def _setup_characteristics(self, client: Any) -> None:
        from bleak.exc import BleakError

        try:
            service = client.services.get_service(self.service_uuid)
        except BleakError as exc:
            raise TransportError(f"{self.address}: cannot read GATT services: {exc}") from exc
        if service is None:
            found = ", ".join(s.uuid for s in client.services) or "none"
            raise TransportError(
                f"{self.address}: service {self.service_uuid} not found (device offers: {found}); "
                "set ?service=&rx=&tx= for this printer"
            )
        rx = service.get_characteristic(self.rx_uuid)
        tx = service.get_characteristic(self.tx_uuid)
        if rx is None or tx is None:
            missing = self.rx_uuid if rx is None else self.tx_uuid
            found = ", ".join(f"{c.uuid} {c.properties}" for c in service.characteristics)
            raise TransportError(f"{self.address}: characteristic {missing} not found (service has: {found})")
        if not {"write", "write-without-response"} & set(rx.properties):
            raise TransportError(f"{self.address}: characteristic {rx.uuid} is not writable ({rx.properties})")
        if not {"notify", "indicate"} & set(tx.properties):
            raise TransportError(f"{self.address}: characteristic {tx.uuid} does not notify ({tx.properties})")

        if self.response_mode == "auto":
            self._with_response = "write" in rx.properties
        else:
            self._with_response = self.response_mode == "true"
        if self.chunk_override > 0:
            chunk = self.chunk_override
        else:
            chunk = int(client.mtu_size) - _ATT_HEADER
            if not self._with_response:
                limit = int(getattr(rx, "max_write_without_response_size", 0) or 0)
                if limit > 0:
                    chunk = min(chunk, limit)
            chunk = max(_MIN_CHUNK, min(chunk, _MAX_CHUNK))
        self._rx_char, self._tx_char, self._chunk = rx, tx, chunk

    async def close(self) -> None:
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        client, self._client = self._client, None
        if client is None:
            return
        self._arrived.set()  # a pending read wakes up, sees no client, raises Disconnected
        self._closing = True
        try:
            if client.is_connected:
                try:
                    await client.stop_notify(self._tx_char)
                except Exception as exc:  # best effort: we are leaving anyway
                    logger.debug("%s: stop_notify failed (ignored): %s", self.address, exc)
            await client.disconnect()
        except Exception as exc:
            logger.debug("%s: disconnect failed (ignored): %s", self.address, exc)
        finally:
            self._closing = False
        logger.info("%s: closed", self.address)

    # -- callbacks from bleak -----------------------------------------------------------------

    def _on_notify(self, sender: Any, data: bytearray) -> None:
        self._incoming += data
        self._arrived.set()

    def _on_disconnect(self, client: Any) -> None:
        if client is not self._client or self._closing:
            return  # a stale client, or a disconnect we asked for
        loop = self._loop
        if loop is not None and loop.is_closed():
            return
        self._client = None
        self._drops += 1
        # Bytes that arrived before the drop are real: keep them readable.
        self._rx += self._incoming
        self._incoming.clear()
        self._arrived.set()
        logger.warning("%s: link dropped", self.address)
        if self.reconnect_attempts > 0 and loop is not None:
            self._reconnect_task = loop.create_task(self._reconnect())
        else:
            self._gave_up = Disconnected(f"{self.address}: link dropped (reconnect disabled)")

    async def _reconnect(self) -> None:
        last: Exception | None = None
        for attempt in range(1, self.reconnect_attempts + 1):
            await asyncio.sleep(self.reconnect_delay)
            try:
                await self._open(deadline_in(_DEFAULT_CONNECT_SECONDS))
                logger.info("%s: reconnected (attempt %d)", self.address, attempt)
                return
            except Exception as exc:  # any failure counts as a failed attempt; never kill the task
                last = exc
                logger.warning("%s: reconnect attempt %d/%d failed: %s",
                               self.address, attempt, self.reconnect_attempts, exc)
        self._gave_up = Disconnected(
            f"{self.address}: link dropped and {self.reconnect_attempts} reconnect attempts failed ({last})"
        )

    # -- I/O ----------------------------------------------------------------------------------

    def _report_drop(self, where: str) -> Disconnected:
        self._drops_reported = self._drops
        return Disconnected(f"{self.address}: link dropped {where}; bytes may have been lost")

    async def _ensure_link(self, deadline: Deadline) -> None:
        if self._drops != self._drops_reported:
            raise self._report_drop("since the last operation")
        task = self._reconnect_task
        if task is not None and not task.done():
            try:
                async with asyncio.timeout_at(deadline):
                    await asyncio.shield(task)
            except TimeoutError:
                raise TransportTimeout(f"{self.address}: still reconnecting") from None
        if not self.connected and self._gave_up is not None:
            raise self._gave_up

    async def _read_some(self, max_bytes: int, deadline: Deadline) -> bytes:
        drops_at_start = self._drops
        while not self._incoming:
            if self._drops != drops_at_start:
                raise self._report_drop("while reading")
            if self._client is None:
                raise Disconnected(f"{self.address}: not connected")
            self._arrived.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._arrived.wait()
            except TimeoutError:
                raise timeout_error(self.address, "receive data") from None
        data = bytes(self._incoming)
        self._incoming.clear()
        return data

    async def _write(self, data: bytes, deadline: Deadline) -> None:
        from bleak.exc import BleakError

        drops_at_start = self._drops
        client = self._client
        view = memoryview(data)
        try:
            async with asyncio.timeout_at(deadline):
                while view:
                    if self._drops != drops_at_start or client is None:
                        raise self._report_drop("while writing")
                    piece = bytes(view[: self._chunk])
                    await client.write_gatt_char(self._rx_char, piece, response=self._with_response)
                    view = view[len(piece):]
        except TimeoutError:
            raise TransportTimeout(
                f"{self.address}: timed out writing ({len(data) - len(view)} of {len(data)} bytes sent)"
            ) from None
        except BleakError as exc:
            if self._drops != drops_at_start or not client.is_connected:
                raise self._report_drop(f"while writing ({exc})") from exc
            raise TransportError(f"{self.address}: GATT write failed: {exc}") from exc


def ble_from_address(address: TransportAddress) -> BleTransport:
    """The `ble://` scheme factory (see `kkm_bridge.transports.uri`)."""
    target = address.netloc or address.path.lstrip("/")
    if not target:
        raise address.error("missing device address, e.g. ble://AA:BB:CC:DD:EE:FF")
    if not _MAC.match(target):
        try:
            target = str(uuid.UUID(target)).upper()  # macOS identifies peripherals by UUID
        except ValueError:
            raise address.error(
                f"{target!r} is not a Bluetooth address (AA:BB:CC:DD:EE:FF) or a macOS device UUID"
            ) from None
    uuids = {}
    for name, default in (("service", NUS_SERVICE), ("rx", NUS_RX), ("tx", NUS_TX)):
        text = address.get_str(name, default)
        assert text is not None
        try:
            uuids[name] = normalize_uuid(text)
        except ValueError:
            raise address.error(f"option {name}={text!r} is not a UUID") from None
    response = address.get_choice("response", "auto", ("auto", "true", "false"))
    chunk = address.get_int("chunk", 0, minimum=0)
    attempts = address.get_int("reconnect", 3, minimum=0)
    delay = address.get_float("reconnect_delay", 1.0, minimum=0.0)
    return BleTransport(
        target.upper() if _MAC.match(target) else target,
        service=uuids["service"], rx=uuids["rx"], tx=uuids["tx"],
        response=response,  # type: ignore[arg-type]
        chunk=chunk, reconnect_attempts=attempts, reconnect_delay=delay, address=address.uri,
    )
