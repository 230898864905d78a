"""`open_device(uri, **options)`: from a transport URI to a connected `AtolDriver` in one call."""

from __future__ import annotations

from typing import Any

from kkm_bridge.driver.atol import AtolDriver
from kkm_bridge.transports import open_transport

#: Options that belong to the driver; everything else goes to the transport (e.g. baudrate=).
DRIVER_OPTIONS = frozenset({
    "password", "admin_password", "access_password", "tax_table", "dialect", "shift_policy", "line_width",
    "timeouts", "window", "pay_types", "cancel_open_receipt_on_connect", "log_extra", "unsupported_text",
})


def make_device(uri: str, **options: Any) -> AtolDriver:
    """An unconnected driver for `uri` (`sim://` is made available on demand)."""
    if uri.lower().startswith("sim:"):
        from kkm_bridge.driver.sim_transport import register_sim_scheme

        register_sim_scheme()
    driver_options = {k: v for k, v in options.items() if k in DRIVER_OPTIONS}
    transport_options = {k: v for k, v in options.items() if k not in DRIVER_OPTIONS}
    return AtolDriver(open_transport(uri, **transport_options), **driver_options)


async def open_device(uri: str, **options: Any) -> AtolDriver:
    """A connected driver for `uri`: `await open_device("tcp://127.0.0.1:5555", password=30)`."""
    driver = make_device(uri, **options)
    await driver.connect()
    return driver
