"""USB printers without a kernel serial driver: raw bulk endpoints through pyusb (libusb).

Addressing (see `uri`): ``usb://VID:PID`` (4 hex digits each, optional ``?serial=``) or
``usb://BUS/ADDRESS`` (decimal, as in /dev/bus/usb/BUS/ADDRESS and `lsusb`).

libusb calls block, so every transfer runs in a worker thread with a short libusb timeout:
reads poll one endpoint packet at a time (a libusb timeout just means "no data yet"), writes go
out in max-packet-size chunks (some printers drop data from large bulk transfers; chunking
also lets the deadline be checked between chunks).

pyusb is imported lazily so that `import kkm_bridge.transports` works without libusb.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kkm_bridge.transports._threaded import ThreadedPoller
from kkm_bridge.transports.base import Deadline, Transport, remaining, timeout_error
from kkm_bridge.transports.errors import (
    UDEV_HINT,
    DeviceBusy,
    DeviceNotFound,
    Disconnected,
    PermissionDenied,
    TransportError,
    TransportTimeout,
)

if TYPE_CHECKING:
    from kkm_bridge.transports.uri import TransportAddress

logger = logging.getLogger(__name__)

_POLL_MS = 50  # one read poll: bounds cancellation latency and how long close() waits
_MAX_WRITE_TIMEOUT_MS = 5000  # per chunk, when there is no deadline
_GONE_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.EIO, errno.ESHUTDOWN})
_VID_PID = re.compile(r"^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$")
_BUS_ADDRESS = re.compile(r"^(\d{1,3})/(\d{1,3})$")
_USAGE = "expected usb://VID:PID (e.g. usb://1a2b:3c4d) or usb://BUS/ADDRESS (e.g. usb://1/5)"


@dataclass(frozen=True)
class UsbTarget:
    """Which USB device to open: by ids, or by its position on the bus."""

    vid: int | None = None
    pid: int | None = None
    bus: int | None = None
    address: int | None = None

    def describe(self) -> str:
        if self.vid is not None and self.pid is not None:
            return f"USB device {self.vid:04x}:{self.pid:04x}"
        return f"USB device on bus {self.bus} address {self.address}"

    def find_kwargs(self) -> dict[str, int]:
        if self.vid is not None and self.pid is not None:
            return {"idVendor": self.vid, "idProduct": self.pid}
        assert self.bus is not None and self.address is not None
        return {"bus": self.bus, "address": self.address}


def parse_usb_target(address: TransportAddress) -> UsbTarget:
    """Parse the part after ``usb://``; raise InvalidAddress with the accepted forms."""
    text = address.netloc + address.path
    if match := _VID_PID.match(text):
        return UsbTarget(vid=int(match[1], 16), pid=int(match[2], 16))
    if match := _BUS_ADDRESS.match(text):
        bus, dev = int(match[1]), int(match[2])
        if not 1 <= bus <= 255:
            raise address.error(f"bus must be 1..255, got {bus}")
        if not 1 <= dev <= 127:
            raise address.error(f"device address must be 1..127, got {dev}")
        return UsbTarget(bus=bus, address=dev)
    if ":" in text:
        raise address.error(f"VID and PID are 4 hex digits each; {_USAGE}")
    raise address.error(_USAGE)


def map_usb_error(exc: BaseException, what: str, *, connecting: bool) -> TransportError:
    """Turn a pyusb/libusb failure into a typed error with an actionable message."""
    import usb.core

    if isinstance(exc, usb.core.USBTimeoutError) or getattr(exc, "errno", None) == errno.ETIMEDOUT:
        return TransportTimeout(f"{what}: USB transfer timed out")
    if isinstance(exc, usb.core.NoBackendError):
        return TransportError(
            f"{what}: no libusb backend found; install libusb 1.0 "
            "(Debian/Ubuntu: sudo apt install libusb-1.0-0; Windows: a WinUSB/libusb driver via Zadig)"
        )
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        return PermissionDenied(
            f"{what}: permission denied; {UDEV_HINT}, and add your user to the group the rule "
            "names (e.g. sudo usermod -aG plugdev $USER, then log in again)"
        )
    if code == errno.EBUSY:
        return DeviceBusy(
            f"{what}: device or resource busy: another program or a kernel driver has claimed it "
            "(close other printer software; the udev rules from `kkm-bridge udev-rules` keep "
            "kernel drivers off it)"
        )
    if code in _GONE_ERRNOS or code == errno.ENOENT:
        if connecting:
            return DeviceNotFound(f"{what}: device is gone ({exc})")
        return Disconnected(f"{what}: disconnected ({exc})")
    return TransportError(f"{what}: USB error: {exc}")


class UsbTransport(Transport):
    """Bulk IN/OUT endpoints of one interface of one USB device."""

    def __init__(
        self,
        target: UsbTarget,
        *,
        serial_number: str | None = None,
        interface: int = 0,
        address: str | None = None,
    ) -> None:
        super().__init__(address or target.describe())
        self.target = target
        self.serial_number = serial_number
        self.interface = interface
        self._device: Any = None
        self._ep_in: Any = None
        self._ep_out: Any = None
        self._detached_kernel_driver = False
        self._poller: ThreadedPoller | None = None

    @property
    def connected(self) -> bool:
        return self._device is not None

    # -- open / close -------------------------------------------------------------------------

    def _find(self) -> Any:
        import usb.core

        kwargs: dict[str, Any] = dict(self.target.find_kwargs())
        if self.serial_number is not None:
            wanted = self.serial_number

            def same_serial(dev: Any) -> bool:
                try:
                    return bool(dev.serial_number == wanted)
                except (ValueError, usb.core.USBError):
                    return False  # cannot read the string descriptor (permissions): not a match

            kwargs["custom_match"] = same_serial
        device = usb.core.find(**kwargs)
        if device is None:
            extra = f" with serial {self.serial_number}" if self.serial_number else ""
            raise DeviceNotFound(f"{self.target.describe()}{extra} not found (plugged in and on? see `kkm-bridge devices`)")
        return device

    def _open_blocking(self) -> tuple[Any, Any, Any, bool]:
        """Find, detach the kernel driver, configure, claim; return device, IN, OUT endpoints."""
        import usb.core
        import usb.util

        what = self.target.describe()
        try:
            device = self._find()
            what = f"{what} (bus {device.bus} address {device.address})"
            detached = False
            try:
                if device.is_kernel_driver_active(self.interface):
                    device.detach_kernel_driver(self.interface)
                    detached = True
            except NotImplementedError:  # Windows/macOS backends: no kernel-driver concept
                pass
            try:
                config = device.get_active_configuration()
            except usb.core.USBError:
                config = None
            if config is None:
                device.set_configuration()
                config = device.get_active_configuration()
            intf = config[(self.interface, 0)]
            ep_in = ep_out = None
            for ep in intf:
                if usb.util.endpoint_type(ep.bmAttributes) != usb.util.ENDPOINT_TYPE_BULK:
                    continue
                if usb.util.endpoint_direction(ep.bEndpointAddress) == usb.util.ENDPOINT_IN:
                    ep_in = ep_in or ep
                else:
                    ep_out = ep_out or ep
            if ep_in is None or ep_out is None:
                raise TransportError(
                    f"{what}: interface {self.interface} has no bulk IN/OUT endpoint pair "
                    "(not a bulk printer interface? try ?interface=N)"
                )
            usb.util.claim_interface(device, self.interface)
        except TransportError:
            raise
        except (usb.core.USBError, usb.core.NoBackendError, OSError) as exc:
            raise map_usb_error(exc, what, connecting=True) from exc
        return device, ep_in, ep_out, detached

    async def connect(self, deadline: Deadline = None) -> None:
        if self._device is not None:
            return
        loop = asyncio.get_running_loop()
        opening = loop.run_in_executor(None, self._open_blocking)
        try:
            async with asyncio.timeout_at(deadline):
                device, ep_in, ep_out, detached = await asyncio.shield(opening)
        except TimeoutError:
            # The open continues in its thread; release whatever it ends up holding.
            opening.add_done_callback(self._release_late_open)
            raise timeout_error(self.address, "open the USB device") from None
        except TransportError as exc:
            logger.warning("%s: open failed: %s", self.address, exc)
            raise
        self._device, self._ep_in, self._ep_out = device, ep_in, ep_out
        self._detached_kernel_driver = detached
        self._poller = ThreadedPoller(self.address, self._poll)
        self._rx.clear()
        logger.info(
            "%s: open, bulk IN 0x%02x (%d-byte packets), OUT 0x%02x (%d-byte packets)",
            self.address, ep_in.bEndpointAddress, ep_in.wMaxPacketSize,
            ep_out.bEndpointAddress, ep_out.wMaxPacketSize,
        )

    def _release_late_open(self, fut: asyncio.Future[tuple[Any, Any, Any, bool]]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return
        device, _, _, detached = fut.result()
        self._release_blocking(device, detached)

    def _release_blocking(self, device: Any, reattach: bool) -> None:
        import usb.core
        import usb.util

        try:
            usb.util.release_interface(device, self.interface)
            if reattach:
                device.attach_kernel_driver(self.interface)
        except (usb.core.USBError, NotImplementedError, OSError) as exc:
            logger.debug("%s: while releasing (ignored): %s", self.address, exc)
        finally:
            usb.util.dispose_resources(device)

    async def close(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        if self._poller is not None:
            await self._poller.settle()
            self._poller = None
        await asyncio.to_thread(self._release_blocking, device, self._detached_kernel_driver)
        logger.info("%s: closed", self.address)

    def _drop(self, error: TransportError) -> TransportError:
        """On a disconnect, forget the device (resources are freed without waiting)."""
        if isinstance(error, Disconnected) and self._device is not None:
            device, self._device = self._device, None
            self._poller = None
            try:
                import usb.util

                usb.util.dispose_resources(device)
            except Exception as exc:  # the device is gone; nothing more to do
                logger.debug("%s: dispose after disconnect: %s", self.address, exc)
            logger.warning("%s: %s", self.address, error)
        return error

    # -- I/O ----------------------------------------------------------------------------------

    def _poll(self) -> bytes:
        """Worker thread: one max-packet-size bulk read; b"" when the device had nothing."""
        import usb.core

        ep = self._ep_in
        if ep is None or self._device is None:
            raise Disconnected(f"{self.address}: not connected")
        try:
            return bytes(ep.read(ep.wMaxPacketSize, _POLL_MS))
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            if exc.errno == errno.ETIMEDOUT:
                return b""
            raise map_usb_error(exc, self.address, connecting=False) from exc

    async def _read_some(self, max_bytes: int, deadline: Deadline) -> bytes:
        poller = self._poller
        if poller is None:
            raise Disconnected(f"{self.address}: not connected")
        try:
            return await poller.read(deadline)
        except TransportError as exc:
            raise self._drop(exc) from exc

    def _write_blocking(self, data: bytes, budget: float | None) -> None:
        """Worker thread: send `data` in max-packet-size chunks within `budget` seconds."""
        import usb.core

        ep = self._ep_out
        if ep is None:
            raise Disconnected(f"{self.address}: not connected")
        chunk_size = max(1, int(ep.wMaxPacketSize))
        end = None if budget is None else time.monotonic() + budget
        view = memoryview(data)
        while view:
            if end is None:
                timeout_ms = _MAX_WRITE_TIMEOUT_MS
            else:
                timeout_ms = int((end - time.monotonic()) * 1000)
                if timeout_ms <= 0:
                    raise TransportTimeout(
                        f"{self.address}: timed out writing ({len(data) - len(view)} of {len(data)} bytes sent)"
                    )
            try:
                sent = ep.write(view[:chunk_size], timeout_ms)
            except usb.core.USBError as exc:
                raise map_usb_error(exc, self.address, connecting=False) from exc
            view = view[sent:]

    async def _write(self, data: bytes, deadline: Deadline) -> None:
        try:
            await asyncio.to_thread(self._write_blocking, data, remaining(deadline))
        except TransportError as exc:
            raise self._drop(exc) from exc
