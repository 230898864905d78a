"""Transport addresses as URIs, and the scheme registry behind `open_transport`.

Accepted forms (options go in the query string or as keyword arguments; keywords win):

=========================================================  =====================================
``serial:///dev/ttyACM0?baudrate=115200``                  serial port (POSIX path)
``serial://COM3`` (also ``serial:///COM3``)                 serial port (Windows)
  options: ``baudrate`` (115200), ``exclusive`` (true), ``io`` (auto|fd|thread)
``tcp://HOST:5555``, ``tcp://[::1]:5555``, ``tcp://HOST``   TCP; port defaults to 5555
  options: ``nodelay`` (true)
``usb://VID:PID``                                          USB bulk device by ids, 4 hex digits
``usb://BUS/ADDRESS``                                      ... or by position, decimal, the same
                                                           numbers as /dev/bus/usb/BUS/ADDRESS
                                                           and `lsusb` ("Bus 001 Device 005")
  options: ``serial`` (USB serial number, with VID:PID), ``interface`` (0)
``ble://AA:BB:CC:DD:EE:FF``                                Bluetooth LE (address, or the
                                                           UUID macOS uses instead)
  options: ``service``, ``rx`` (the characteristic we write), ``tx`` (the one we subscribe to);
  Nordic UART UUIDs by default; ``response`` (auto|true|false), ``chunk`` (bytes, 0 = from the
  MTU), ``reconnect`` (attempts after a drop, 3), ``reconnect_delay`` (seconds, 1.0)
``sim://...``                                              in-process simulator, registered by
                                                           the simulator package at run time
=========================================================  =====================================

Why a registry: `sim://` lives in the `simulators` package, which imports `kkm_bridge`; a
factory hook lets it plug in without this package importing simulators. Built-in schemes are
registered the same way and import their heavy dependencies (pyusb, bleak) only when used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kkm_bridge.transports.base import Transport
from kkm_bridge.transports.errors import InvalidAddress

logger = logging.getLogger(__name__)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass
class TransportAddress:
    """A parsed transport URI handed to a scheme factory.

    `netloc` and `path` are the raw URI parts (not split into host/port: a BLE address and a
    USB VID:PID both contain colons). `options` merges query parameters (strings) with keyword
    options (any type, taking precedence). Factories read options through the typed getters,
    then call `finish()`, which rejects anything left over so a typo is an error, not a no-op.
    """

    uri: str
    scheme: str
    netloc: str
    path: str
    options: dict[str, Any]
    _used: set[str] = field(default_factory=set, repr=False)

    def error(self, message: str) -> InvalidAddress:
        return InvalidAddress(f"{self.uri!r}: {message}")

    def _take(self, name: str) -> Any:
        self._used.add(name)
        return self.options.get(name)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self._take(name)
        if value is None:
            return default
        return str(value)

    def get_int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self._take(name)
        if value is None:
            return default
        try:
            number = int(value, 0) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise self.error(f"option {name}={value!r} is not an integer") from None
        if minimum is not None and number < minimum:
            raise self.error(f"option {name}={number} must be >= {minimum}")
        return number

    def get_float(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self._take(name)
        if value is None:
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.error(f"option {name}={value!r} is not a number") from None
        if number != number or (minimum is not None and number < minimum):
            raise self.error(f"option {name}={value!r} must be >= {minimum}")
        return number

    def get_bool(self, name: str, default: bool) -> bool:
        value = self._take(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.error(f"option {name}={value!r} is not a boolean (use true/false)")

    def get_choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.get_str(name, default)
        assert value is not None
        if value not in choices:
            raise self.error(f"option {name}={value!r} must be one of {', '.join(choices)}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self.options) - self._used)
        if unknown:
            known = ", ".join(sorted(self._used)) or "none"
            raise self.error(f"unknown option(s) {', '.join(unknown)} for {self.scheme}:// (known: {known})")


TransportFactory = Callable[[TransportAddress], Transport]

_FACTORIES: dict[str, TransportFactory] = {}


def register_scheme(name: str, factory: TransportFactory, *, replace: bool = False) -> None:
    """Make `open_transport` build `name://...` addresses with `factory`.

    `factory(address)` must return an unconnected Transport and should call
    `address.finish()` after reading its options. Re-registering a scheme needs `replace=True`
    (so two plugins cannot silently fight over one name).
    """
    key = name.lower()
    if not key.isidentifier():
        raise ValueError(f"invalid scheme name {name!r}")
    if key in _FACTORIES and not replace and _FACTORIES[key] is not factory:
        raise ValueError(f"transport scheme {key!r} is already registered")
    _FACTORIES[key] = factory


def unregister_scheme(name: str) -> None:
    """Remove a scheme (tests and plugins that unload)."""
    _FACTORIES.pop(name.lower(), None)


def registered_schemes() -> list[str]:
    return sorted(_FACTORIES)


def parse_address(uri: str, **options: Any) -> TransportAddress:
    """Split `uri` into a TransportAddress; raise InvalidAddress with a clear reason."""
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidAddress(
            f"{uri!r}: not a transport URI; expected e.g. serial:///dev/ttyACM0, tcp://HOST:5555, "
            "usb://VID:PID, ble://AA:BB:CC:DD:EE:FF"
        )
    parts = urlsplit(uri)
    if parts.fragment:
        raise InvalidAddress(f"{uri!r}: fragments ('#...') are not allowed")
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise InvalidAddress(f"{uri!r}: malformed query string {parts.query!r}") from None
    merged: dict[str, Any] = {}
    for key, value in pairs:
        if key in merged:
            raise InvalidAddress(f"{uri!r}: option {key!r} given more than once")
        merged[key] = value
    merged.update(options)
    return TransportAddress(uri=uri, scheme=parts.scheme.lower(), netloc=parts.netloc,
                            path=parts.path, options=merged)


def open_transport(uri: str, **options: Any) -> Transport:
    """Build the (not yet connected) transport for `uri`; then `await transport.connect(deadline)`."""
    address = parse_address(uri, **options)
    factory = _FACTORIES.get(address.scheme)
    if factory is None:
        if address.scheme == "sim":
            raise InvalidAddress(
                f"{uri!r}: sim:// is provided by the simulator package, which registers it when "
                "loaded (register_scheme); it is not available in this process"
            )
        raise InvalidAddress(
            f"{uri!r}: unknown transport scheme {address.scheme!r} "
            f"(known: {', '.join(registered_schemes())})"
        )
    transport = factory(address)
    address.finish()
    logger.debug("opened transport %r for %s", transport, uri)
    return transport


# -- built-in schemes -------------------------------------------------------------------------


def _serial_factory(address: TransportAddress) -> Transport:
    from kkm_bridge.transports.serial import DEFAULT_BAUDRATE, SerialTransport

    if address.netloc and address.path:
        raise address.error(
            "a serial URI has the device path after three slashes, e.g. serial:///dev/ttyACM0"
        )
    port = address.netloc or address.path
    # serial:///COM3 -> COM3 (a Windows port name carries no leading slash).
    if port.startswith("/") and port[1:].upper().startswith("COM") and port[4:].isdigit():
        port = port[1:]
    if not port or port == "/":
        raise address.error("missing port, e.g. serial:///dev/ttyACM0 or serial://COM3")
    baudrate = address.get_int("baudrate", DEFAULT_BAUDRATE, minimum=1)
    exclusive = address.get_bool("exclusive", True)
    io = address.get_choice("io", "auto", ("auto", "fd", "thread"))
    return SerialTransport(port, baudrate=baudrate, exclusive=exclusive, io=io,  # type: ignore[arg-type]
                           address=address.uri)


def _tcp_factory(address: TransportAddress) -> Transport:
    from kkm_bridge.transports.tcp import DEFAULT_PORT, TcpTransport

    if address.path not in ("", "/"):
        raise address.error("a TCP URI has no path: tcp://HOST:PORT")
    parts = urlsplit(address.uri)
    host = parts.hostname
    if not host:
        raise address.error("missing host, e.g. tcp://192.168.1.50:5555")
    try:
        port = parts.port
    except ValueError:
        raise address.error("port must be a number 1..65535") from None
    if port is None:
        port = DEFAULT_PORT
    if not 0 < port < 65536:
        raise address.error("port must be a number 1..65535")
    nodelay = address.get_bool("nodelay", True)
    return TcpTransport(host, port, nodelay=nodelay, address=address.uri)


def _usb_factory(address: TransportAddress) -> Transport:
    from kkm_bridge.transports.usb import UsbTransport, parse_usb_target

    target = parse_usb_target(address)
    serial_number = address.get_str("serial")
    interface = address.get_int("interface", 0, minimum=0)
    if serial_number is not None and target.bus is not None:
        raise address.error("option serial= only applies to usb://VID:PID")
    return UsbTransport(target, serial_number=serial_number, interface=interface, address=address.uri)


def _ble_factory(address: TransportAddress) -> Transport:
    from kkm_bridge.transports.ble import ble_from_address

    return ble_from_address(address)


for _name, _factory in (("serial", _serial_factory), ("tcp", _tcp_factory),
                        ("usb", _usb_factory), ("ble", _ble_factory)):
    register_scheme(_name, _factory)
