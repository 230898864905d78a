"""Fixtures: a simulator served on a REAL pty (serial transport) and on TCP 127.0.0.1, and a driver.

The simulator runs on its own event loop in a thread (`serve_in_thread`), the driver on the test's
loop, so bytes really cross a pty or a socket. The simulator's calendar is a `ManualClock` (shift
expiry without waiting a day); between driver calls the simulator is idle, so tests may inspect and
change it directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from driver_testutil import KZ_TAX_TABLE, Rig

from kkm_bridge.driver.atol import AtolDriver
from simulators.atol import DeviceConfig, Faults, ManualClock, Simulator
from simulators.atol.servers import serve_in_thread


@pytest.fixture(params=["pty", "tcp"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    clock = ManualClock()
    sim = Simulator(DeviceConfig(sign_key_seed=7), clock=clock, faults=Faults(seed=3), tax_table=KZ_TAX_TABLE)
    with serve_in_thread(sim, tcp=("127.0.0.1", 0), pty=True) as servers:
        if request.param == "pty":
            uri = f"serial://{servers.pty_path}?baudrate=115200"
        else:
            host, port = servers.tcp_address  # type: ignore[misc]
            uri = f"tcp://{host}:{port}"
        yield Rig(sim, clock, servers, uri)


@pytest.fixture
async def driver(rig: Rig) -> AsyncIterator[AtolDriver]:
    device = rig.driver()
    await device.connect()
    try:
        yield device
    finally:
        await device.close()
