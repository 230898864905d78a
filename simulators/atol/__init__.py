"""A software ATOL fiscal printer (transport v3) for tests, demos and driver development.

Quick start (in-process)::

    from simulators.atol import Simulator
    sim = Simulator()                       # RAM only; Simulator(state_path="sim.db") persists
    answer = sim.feed(frame)                # v3 frame bytes in, answer frames out
    pushed = sim.read_async()               # F0 frames for ADDs sent with NEED_RESULT
    sim.documents                           # fiscal memory (list of FiscalDocument, read from the store)
    sim.faults.drop_next(command=0x4A)      # fault injection, see faults.py
    sim.device.tape[-1].text()              # the printed tape (last 200 documents), see tape.py

Servers (`servers.py`): `serve_tcp(sim, host, port)` and `PtyServer(sim)`; or from the shell
`kkm-bridge simulate --tcp 5555` / `--pty`.
"""

from .clock import ManualClock, SystemClock
from .config import DeviceConfig, Passwords, Registration
from .device import Device
from .faults import POWER_CUT_POINTS, Faults, ScriptedFault, parse_fault_spec
from .fiscal_memory import DocumentKind, FiscalDocument, FiscalMemory
from .fiscal_sign import compute_fiscal_sign, verify_fiscal_sign
from .simulator import Emission, Simulator, WireTiming

__all__ = [
    "POWER_CUT_POINTS",
    "Device",
    "DeviceConfig",
    "DocumentKind",
    "Emission",
    "Faults",
    "FiscalDocument",
    "FiscalMemory",
    "ManualClock",
    "Passwords",
    "Registration",
    "ScriptedFault",
    "Simulator",
    "SystemClock",
    "WireTiming",
    "compute_fiscal_sign",
    "parse_fault_spec",
    "verify_fiscal_sign",
]
