"""Fixtures: a simulator served on a REAL pty (serial transport) and on TCP 127.0.0.1, and a driver.

The simulator runs on its own event loop in a thread (`serve_in_thread`), the driver on the test's
loop, so bytes really cross a pty or a socket. The simulator's calendar is a `ManualClock` (shift
expiry without waiting a day); between driver calls the simulator is idle, so tests may inspect and
change it directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from kkm_bridge.driver.atol import AtolDriver
from kkm_bridge.driver.shift_policy import ShiftPolicy
from kkm_bridge.driver.timeouts import Timeouts
from kkm_bridge.transports import open_transport
from protocols.atol.tax_table import TaxSlot
from simulators.atol import DeviceConfig, Faults, ManualClock, Simulator
from simulators.atol.servers import RunningServers, serve_in_thread

#: A Kazakhstan-style tax table (the simulator and the driver are both given it).
KZ_TAX_TABLE = {
    1: TaxSlot(1, "16", Decimal(16)),
    2: TaxSlot(2, "12", Decimal(12)),
    3: TaxSlot(3, "0", Decimal(0)),
    4: TaxSlot(4, "none", None),
}
#: Short link timings: a lost frame costs 0.1 s of silence, not the production 0.3 s.
FAST = Timeouts(sync_reply=0.1, result_poll=0.1, retries=8)


@dataclass
class Rig:
    sim: Simulator
    clock: ManualClock
    servers: RunningServers
    uri: str

    def driver(self, **options: object) -> AtolDriver:
        options.setdefault("tax_table", KZ_TAX_TABLE)
        options.setdefault("timeouts", FAST)
        options.setdefault("shift_policy", ShiftPolicy())
        return AtolDriver(open_transport(self.uri), **options)  # type: ignore[arg-type]


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
