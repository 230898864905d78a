"""Serial ports (RS-232, USB CDC-ACM, USB-serial adapters) through pyserial.

pyserial opens the port, takes the exclusive lock and sets 8N1 raw mode; the I/O itself never
blocks the event loop:

* POSIX ("fd" mode): the port's file descriptor is non-blocking and watched with
  `loop.add_reader` / `loop.add_writer`; bytes move with `os.read` / `os.write`.
* Anything else ("thread" mode, the default on Windows): pyserial's blocking calls run in a
  worker thread with a short timeout, see `ThreadedPoller`.

Why not pyserial-asyncio: one more dependency for ~100 lines, and we need our own error mapping
(permission, busy, disconnect) and deadline semantics anyway.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from typing import Literal

import serial as pyserial

from kkm_bridge.transports._threaded import ThreadedPoller
from kkm_bridge.transports.base import Deadline, Transport, timeout_error
from kkm_bridge.transports.errors import (
    UDEV_HINT,
    DeviceBusy,
    DeviceNotFound,
    Disconnected,
    PermissionDenied,
    TransportError,
)

logger = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115200  # atol-protocol.md §1.1: the usual ATOL default
IoMode = Literal["auto", "fd", "thread"]

# errno values that mean "the device behind this fd is gone" (USB unplug, pty master closed).
_GONE_ERRNOS = frozenset({errno.EIO, errno.ENXIO, errno.ENODEV, errno.EBADF, errno.EPIPE})
_READ_CHUNK = 4096
_THREAD_POLL_SECONDS = 0.05


def _group_hint(port: str) -> str:
    """Name the group that owns the device node, so the message says exactly what to join."""
    try:
        import grp  # POSIX only

        group = grp.getgrgid(os.stat(port).st_gid).gr_name
    except (ImportError, OSError, KeyError):
        group = "dialout"
    if group in ("root", "tty"):  # joining these would be wrong advice; distros use dialout/uucp
        group = "dialout"
    return f"add your user to the '{group}' group (sudo usermod -aG {group} $USER, then log in again)"


def map_open_error(port: str, exc: BaseException) -> TransportError:
    """Turn pyserial's/OS's failure to open `port` into one of our typed errors."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    # On Windows pyserial puts the OS error in the message only, e.g. "could not open port
    # 'COM3': FileNotFoundError(2, ...)"; a COM port held by another program is "Access is denied".
    if code == errno.ENOENT or "No such file" in text or "FileNotFoundError" in text:
        return DeviceNotFound(f"serial port {port} does not exist (is the printer plugged in and on?)")
    if "Access is denied" in text:
        return DeviceBusy(
            f"serial port {port} is in use by another program (Windows reports this as 'Access is denied')"
        )
    if code == errno.EACCES or code == errno.EPERM or "Permission denied" in text:
        return PermissionDenied(
            f"permission denied opening serial port {port}: {_group_hint(port)}, or {UDEV_HINT}"
        )
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "busy" in text.lower() or "lock" in text.lower():
        return DeviceBusy(
            f"serial port {port} is in use by another program (close it, or check `fuser {port}`)"
        )
    if code in (errno.ENXIO, errno.ENODEV):
        return DeviceNotFound(f"serial port {port} has no device behind it ({exc})")
    return TransportError(f"cannot open serial port {port}: {exc}")


def _require_one_byte_reads(fd: int) -> None:
    """Set VMIN=1, VTIME=0 so a non-blocking read with no data fails with EAGAIN.

    pyserial leaves VMIN=0, under which Linux returns 0 bytes for "nothing yet" - the same
    answer as a hang-up - and we could not tell a quiet printer from an unplugged one.
    """
    try:
        import termios
    except ImportError:  # not POSIX: the fd path is not used there
        return
    try:
        attrs = termios.tcgetattr(fd)
    except termios.error:
        return  # not a tty (e.g. a FIFO used by a test): nothing to adjust
    cc = attrs[6]
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class SerialTransport(Transport):
    """A serial port at `port` (e.g. /dev/ttyACM0 or COM3), 8N1 at `baudrate`.

    `exclusive` (POSIX) takes an advisory lock so two kkm-bridge processes never share a
    printer; `io` forces the fd or thread I/O path ("auto" picks fd where the port has one).
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        exclusive: bool = True,
        io: IoMode = "auto",
        address: str | None = None,
    ) -> None:
        super().__init__(address or f"serial://{port}")
        if io not in ("auto", "fd", "thread"):
            raise ValueError(f"io must be 'auto', 'fd' or 'thread', got {io!r}")
        self.port = port
        self.baudrate = baudrate
        self.exclusive = exclusive
        self.io_mode: IoMode = io
        self._serial: pyserial.Serial | None = None
        self._fd: int | None = None
        self._poller: ThreadedPoller | None = None
        # Futures of tasks waiting for the fd; close() fails them so nobody waits on a dead port.
        self._fd_waiters: set[asyncio.Future[None]] = set()

    @property
    def connected(self) -> bool:
        return self._serial is not None

    async def connect(self, deadline: Deadline = None) -> None:
        if self._serial is not None:
            return
        # Opening a tty is quick and local; doing it inline keeps errors synchronous and simple.
        try:
            ser = pyserial.Serial(
                port=None,
                baudrate=self.baudrate,
                bytesize=pyserial.EIGHTBITS,
                parity=pyserial.PARITY_NONE,
                stopbits=pyserial.STOPBITS_ONE,
                timeout=_THREAD_POLL_SECONDS,
                write_timeout=None,
                xonxoff=False,
                rtscts=False,
                dsrdtr=False,
                exclusive=self.exclusive if os.name == "posix" else None,
            )
            ser.port = self.port
            ser.open()
        except (OSError, pyserial.SerialException, ValueError) as exc:
            error = map_open_error(self.port, exc)
            logger.warning("%s: open failed: %s", self.address, error)
            raise error from exc

        fd: int | None = None
        if self.io_mode in ("auto", "fd"):
            try:
                fd = ser.fileno()
            except (AttributeError, pyserial.SerialException, OSError):
                fd = None
            if fd is None and self.io_mode == "fd":
                ser.close()
                raise TransportError(f"{self.address}: this port has no file descriptor; use io=thread")
        if fd is not None:
            os.set_blocking(fd, False)
            _require_one_byte_reads(fd)
            self._fd = fd
            self._poller = None
        else:
            self._fd = None
            self._poller = ThreadedPoller(self.address, self._thread_poll)
        self._serial = ser
        self._rx.clear()
        logger.info("%s: open at %d baud 8N1 (%s I/O)", self.address, self.baudrate,
                    "fd" if fd is not None else "thread")

    async def close(self) -> None:
        ser, self._serial = self._serial, None
        if ser is None:
            return
        if self._poller is not None:
            await self._poller.settle()
        self._release_fd_waiters("port closed")
        try:
            ser.close()
        except (OSError, pyserial.SerialException) as exc:
            logger.debug("%s: error while closing (ignored): %s", self.address, exc)
        logger.info("%s: closed", self.address)

    def _drop(self, reason: str) -> Disconnected:
        """Forget a dead port (closing what can be closed) and build the error to raise."""
        ser, self._serial = self._serial, None
        self._release_fd_waiters(reason)
        if ser is not None:
            try:
                ser.close()
            except (OSError, pyserial.SerialException):
                pass
        logger.warning("%s: disconnected: %s", self.address, reason)
        return Disconnected(f"{self.address}: disconnected ({reason})")

    # -- fd path ------------------------------------------------------------------------------

    def _release_fd_waiters(self, reason: str) -> None:
        """Unregister the fd from the loop (before it is closed) and fail anyone waiting on it."""
        fd, self._fd = self._fd, None
        if fd is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(fd)
            loop.remove_writer(fd)
        waiters, self._fd_waiters = self._fd_waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(Disconnected(f"{self.address}: {reason}"))

    async def _wait_fd(self, fd: int, *, for_write: bool, deadline: Deadline) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        add, remove = (loop.add_writer, loop.remove_writer) if for_write else (loop.add_reader, loop.remove_reader)
        add(fd, wake)
        self._fd_waiters.add(ready)
        try:
            async with asyncio.timeout_at(deadline):
                await ready
        except TimeoutError:
            raise timeout_error(self.address, "send data" if for_write else "receive data") from None
        finally:
            self._fd_waiters.discard(ready)
            if self._fd == fd:
                remove(fd)

    async def _read_some(self, max_bytes: int, deadline: Deadline) -> bytes:
        if self._poller is not None:
            try:
                return await self._poller.read(deadline)
            except Disconnected as exc:
                raise self._drop(str(exc)) from exc
        while True:
            fd = self._fd
            if fd is None:
                raise Disconnected(f"{self.address}: not connected")
            try:
                data = os.read(fd, max(max_bytes, _READ_CHUNK))
            except BlockingIOError:
                await self._wait_fd(fd, for_write=False, deadline=deadline)
                continue
            except OSError as exc:
                if exc.errno in _GONE_ERRNOS:
                    raise self._drop(f"read: {exc.strerror}") from exc
                raise TransportError(f"{self.address}: read failed: {exc}") from exc
            if not data:
                raise self._drop("end of file on read")
            return data

    async def _write(self, data: bytes, deadline: Deadline) -> None:
        if self._poller is not None:
            await self._thread_write(data)
            return
        view = memoryview(data)
        while view:
            fd = self._fd
            if fd is None:
                raise Disconnected(f"{self.address}: not connected")
            try:
                sent = os.write(fd, view)
            except BlockingIOError:
                await self._wait_fd(fd, for_write=True, deadline=deadline)
                continue
            except OSError as exc:
                if exc.errno in _GONE_ERRNOS:
                    raise self._drop(f"write: {exc.strerror}") from exc
                raise TransportError(f"{self.address}: write failed: {exc}") from exc
            view = view[sent:]

    # -- thread path --------------------------------------------------------------------------

    def _thread_poll(self) -> bytes:
        """Runs in a worker thread: wait up to the port timeout for the first byte, then drain."""
        ser = self._serial
        if ser is None:
            raise Disconnected(f"{self.address}: not connected")
        try:
            first = bytes(ser.read(1))
            if not first:
                return b""
            waiting = int(ser.in_waiting)
            return first + (bytes(ser.read(waiting)) if waiting else b"")
        except (OSError, pyserial.SerialException) as exc:
            raise Disconnected(f"{self.address}: disconnected ({exc})") from exc

    async def _thread_write(self, data: bytes) -> None:
        ser = self._serial
        if ser is None:
            raise Disconnected(f"{self.address}: not connected")
        try:
            # 8N1 without flow control always drains, so a blocking write is bounded by the
            # wire time of `data`; no write timeout is needed.
            await asyncio.to_thread(ser.write, data)
        except (OSError, pyserial.SerialException) as exc:
            raise self._drop(f"write: {exc}") from exc
