"""`sim://NAME`: the embedded simulator as a transport.

The transport itself lives with the simulator (`simulators.atol.sim_transport`, which registers the
scheme with `kkm_bridge.transports` when imported), because `kkm_bridge.transports` must not import
`simulators`. This module is the driver's one switch to make `sim://` available, e.g. for
`open_device("sim://till1")` and for the daemon's demo mode.
"""

from __future__ import annotations

from kkm_bridge.transports import registered_schemes


def register_sim_scheme() -> None:
    """Make `open_transport("sim://NAME")` work in this process (idempotent)."""
    if "sim" not in registered_schemes():
        import simulators.atol.sim_transport  # noqa: F401  (registers the scheme on import)
