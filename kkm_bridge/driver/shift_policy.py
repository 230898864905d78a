"""When to open and close shifts on the driver's own initiative.

A fiscal shift lasts at most 24 hours; after that the device refuses receipts until a Z report closes
the shift. Shops differ in what they want then: an unattended web shop wants the bridge to close the
shift and open a new one by itself; a staffed till may want a person to do the Z report. So the rules
are data (`ShiftPolicy`) and the decision is a pure function of the device's status (`decide`), which
the driver then carries out. Kept pure so every branch is tested without a device.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from kkm_bridge.driver.api import DeviceStatus, ShiftState

__all__ = ["ShiftAction", "ShiftPolicy", "decide", "is_expired"]


class ShiftAction(StrEnum):
    PROCEED = "proceed"  # the shift is open and young enough
    OPEN = "open"  # open a shift first
    CLOSE_AND_OPEN = "close_and_open"  # Z report, then open a new shift
    REFUSE = "refuse"  # do not go on; `Decision.reason` says why


@dataclass(frozen=True)
class ShiftPolicy:
    """`auto_open`: open a shift before the first receipt (or cash operation) when none is open.
    `auto_reopen`: when the shift has reached `max_hours`, close it (Z report) and open a new one;
    when False the driver refuses with `ShiftPolicyRefused` and leaves the shift to a person.
    """

    auto_open: bool = True
    auto_reopen: bool = True
    max_hours: float = 24.0


@dataclass(frozen=True)
class Decision:
    action: ShiftAction
    reason: str = ""


def is_expired(status: DeviceStatus, max_hours: float = 24.0) -> bool:
    """The device says so, or the shift's open time + `max_hours` is not after the device's clock."""
    if status.shift_state is ShiftState.EXPIRED:
        return True
    if status.shift_state is ShiftState.OPEN and status.shift_opened_at is not None:
        return status.shift_opened_at + timedelta(hours=max_hours) <= status.device_time
    return False


def decide(policy: ShiftPolicy, status: DeviceStatus) -> Decision:
    """What to do about the shift before a receipt or a cash operation."""
    if status.shift_state is ShiftState.CLOSED:
        if policy.auto_open:
            return Decision(ShiftAction.OPEN)
        return Decision(ShiftAction.REFUSE, "the shift is closed and automatic shift opening is off: open a shift")
    if is_expired(status, policy.max_hours):
        if policy.auto_reopen:
            return Decision(ShiftAction.CLOSE_AND_OPEN)
        return Decision(
            ShiftAction.REFUSE,
            f"shift {status.shift_number} is older than {policy.max_hours:g} h and automatic re-opening is off: "
            "close it with a Z report (close_shift) first",
        )
    return Decision(ShiftAction.PROCEED)
