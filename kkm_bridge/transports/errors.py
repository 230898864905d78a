"""Typed transport errors.

Callers (the ATOL driver, the device workers, the CLI) decide what to do from the *type* of the
error, never by parsing messages: a timeout may be retried inside a request, a disconnect means
"reconnect, then ask the device what it really did", a permission problem is a setup problem that
no retry will fix. Messages are written for the person at the till: they say what to do next.
"""

from __future__ import annotations

# Shown whenever the OS refuses access to a device node. `kkm-bridge udev-rules` prints rules for the
# configured USB ids; the group is whatever the device node (or that rule) grants access to.
UDEV_HINT = (
    "install the udev rules (kkm-bridge udev-rules | sudo tee /etc/udev/rules.d/99-kkm-bridge.rules; "
    "sudo udevadm control --reload-rules; sudo udevadm trigger), then re-plug the printer"
)


class TransportError(Exception):
    """Base class of every error a transport raises.

    `retryable` says whether trying the same operation again (after reconnecting, where that
    applies) can succeed without a person doing something first.
    """

    retryable: bool = False


class InvalidAddress(TransportError, ValueError):
    """The transport URI or one of its options is malformed or names an unknown scheme."""


class DeviceNotFound(TransportError):
    """Nothing answers at that address (no such port, USB device unplugged, connection refused).

    Retryable: a USB printer re-enumerates a second or two after power-up.
    """

    retryable = True


class PermissionDenied(TransportError):
    """The OS refused access to the device. Needs a person: udev rule or group membership."""


class DeviceBusy(TransportError):
    """Another process (or a kernel driver) holds the device. Retryable: it may let go."""

    retryable = True


class TransportTimeout(TransportError, TimeoutError):
    """The deadline passed before the operation completed.

    `partial` carries bytes that did arrive; `read_exactly` also puts them back into the
    transport's buffer, so nothing is lost if the caller decides to keep reading.
    """

    retryable = True

    def __init__(self, message: str, partial: bytes = b"") -> None:
        super().__init__(message)
        self.partial = partial


class Disconnected(TransportError):
    """The link dropped (cable pulled, peer closed, device powered off).

    After this the transport is closed; call `connect()` again to re-open it.
    """

    retryable = True
