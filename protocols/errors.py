"""The one exception type every decoder in `protocols` raises.

Callers (the driver, the simulator) catch exactly one thing when bytes from the wire do not make sense.
It subclasses ValueError because "these bytes are not a valid message" is a bad *value*, and so that
generic code that already catches ValueError keeps working.
"""

from __future__ import annotations

__all__ = ["ProtocolError"]


class ProtocolError(ValueError):
    """Bytes (or values to be encoded) that do not fit the ATOL protocol."""
