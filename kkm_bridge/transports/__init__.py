"""Byte transports to fiscal printers: one async interface, addressed by URI.

    transport = open_transport("serial:///dev/ttyACM0?baudrate=115200")
    await transport.connect(deadline_in(5))
    await transport.write(frame, deadline_in(1))
    header = await transport.read_exactly(4, deadline_in(1))

See `base` for the interface and deadline rules, `uri` for the address syntax, `errors` for
what can go wrong. Importing this package imports neither pyusb nor bleak.
"""

from kkm_bridge.transports.base import (
    Deadline,
    Transport,
    connect_with_retries,
    deadline_in,
    remaining,
)
from kkm_bridge.transports.errors import (
    DeviceBusy,
    DeviceNotFound,
    Disconnected,
    InvalidAddress,
    PermissionDenied,
    TransportError,
    TransportTimeout,
)
from kkm_bridge.transports.memory import MemoryTransport, memory_pipe
from kkm_bridge.transports.uri import (
    TransportAddress,
    TransportFactory,
    open_transport,
    parse_address,
    register_scheme,
    registered_schemes,
    unregister_scheme,
)

__all__ = [
    "Deadline",
    "DeviceBusy",
    "DeviceNotFound",
    "Disconnected",
    "InvalidAddress",
    "MemoryTransport",
    "PermissionDenied",
    "Transport",
    "TransportAddress",
    "TransportError",
    "TransportFactory",
    "TransportTimeout",
    "connect_with_retries",
    "deadline_in",
    "memory_pipe",
    "open_transport",
    "parse_address",
    "register_scheme",
    "registered_schemes",
    "remaining",
    "unregister_scheme",
]
