"""Shift policy: the pure decision, and the driver carrying it out when the shift reaches 24 h."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from driver_testutil import Rig
from driver_testutil import assert_matches, receipt

from kkm_bridge.driver.api import DeviceStatus, DocumentKind, ShiftState
from kkm_bridge.driver.atol import AtolDriver
from kkm_bridge.driver.errors import ShiftPolicyRefused
from kkm_bridge.driver.shift_policy import ShiftAction, ShiftPolicy, decide, is_expired

NOW = datetime(2026, 1, 15, 9, 0)


def _status(state: ShiftState, opened: datetime | None = None) -> DeviceStatus:
    return DeviceStatus(state, 1, False, None, 0, 1, True, False, False, NOW, opened)


@pytest.mark.parametrize(
    ("policy", "status", "action"),
    [
        (ShiftPolicy(), _status(ShiftState.CLOSED), ShiftAction.OPEN),
        (ShiftPolicy(auto_open=False), _status(ShiftState.CLOSED), ShiftAction.REFUSE),
        (ShiftPolicy(), _status(ShiftState.OPEN, NOW - timedelta(hours=23, minutes=59)), ShiftAction.PROCEED),
        (ShiftPolicy(), _status(ShiftState.OPEN, NOW - timedelta(hours=24)), ShiftAction.CLOSE_AND_OPEN),
        (ShiftPolicy(), _status(ShiftState.OPEN), ShiftAction.PROCEED),  # open time unknown
        (ShiftPolicy(), _status(ShiftState.EXPIRED), ShiftAction.CLOSE_AND_OPEN),
        (ShiftPolicy(auto_reopen=False), _status(ShiftState.EXPIRED), ShiftAction.REFUSE),
        (ShiftPolicy(max_hours=12), _status(ShiftState.OPEN, NOW - timedelta(hours=12)), ShiftAction.CLOSE_AND_OPEN),
    ],
)
def test_decide(policy: ShiftPolicy, status: DeviceStatus, action: ShiftAction) -> None:
    decision = decide(policy, status)
    assert decision.action is action
    assert (decision.reason != "") == (action is ShiftAction.REFUSE)
    expired = action is ShiftAction.CLOSE_AND_OPEN or status.shift_state is ShiftState.EXPIRED
    assert is_expired(status, policy.max_hours) == expired


async def test_expired_shift_is_closed_and_reopened(rig: Rig) -> None:
    driver = rig.driver(shift_policy=ShiftPolicy(auto_reopen=True))
    await driver.connect()
    try:
        first = await driver.fiscalize(receipt())
        rig.clock.advance(hours=24)
        status = await driver.status()
        assert status.shift_state is ShiftState.EXPIRED
        result = await driver.fiscalize(receipt())
    finally:
        await driver.close()
    assert result.shift_opened
    closed = result.shift_closed_first
    assert closed is not None and closed.kind is DocumentKind.SHIFT_CLOSE and closed.shift_number == 1
    assert_matches(rig.sim, closed)
    assert_matches(rig.sim, result.document)
    assert result.document.shift_number == 2 and result.document.number == first.document.number + 3
    assert [d.kind for d in rig.sim.documents] == ["shift_open", "receipt", "shift_close", "shift_open", "receipt"]


async def test_expired_shift_is_refused_when_reopening_is_off(rig: Rig) -> None:
    driver = rig.driver(shift_policy=ShiftPolicy(auto_reopen=False))
    await driver.connect()
    try:
        await driver.fiscalize(receipt())
        rig.clock.advance(hours=25)
        with pytest.raises(ShiftPolicyRefused, match="Z report"):
            await driver.fiscalize(receipt())
        with pytest.raises(ShiftPolicyRefused):
            await driver.cash_in(100)
        assert len(rig.sim.documents) == 2
        # A person closes the shift; the next receipt opens a new one.
        await driver.close_shift()
        result = await driver.fiscalize(receipt())
        assert result.shift_opened and result.document.shift_number == 2
    finally:
        await driver.close()


async def test_expiry_known_only_to_the_device_is_handled(rig: Rig) -> None:
    """A driver started after the shift opened, whose own clock arithmetic allows 48 h: the device's
    SHIFT_EXPIRED at "open receipt" triggers the close-and-reopen, and the receipt goes through once."""
    first = rig.driver()
    await first.connect()
    await first.open_shift()
    await first.close()
    rig.clock.advance(hours=30)
    driver = rig.driver(shift_policy=ShiftPolicy(max_hours=48))
    await driver.connect()
    try:
        result = await driver.fiscalize(receipt())
    finally:
        await driver.close()
    assert result.shift_closed_first is not None and result.shift_opened
    assert [d.kind for d in rig.sim.documents] == ["shift_open", "shift_close", "shift_open", "receipt"]
    assert_matches(rig.sim, result.document)


async def test_no_auto_open_refuses_on_a_closed_shift(rig: Rig) -> None:
    driver = rig.driver(shift_policy=ShiftPolicy(auto_open=False))
    await driver.connect()
    try:
        with pytest.raises(ShiftPolicyRefused, match="closed"):
            await driver.fiscalize(receipt())
    finally:
        await driver.close()
    assert rig.sim.documents == []


def _commands_sent(driver: AtolDriver) -> list[int]:
    """Spy on the driver's transport: the command code of every ADD written from now on."""
    codes: list[int] = []
    write = driver.link.transport.write

    async def spy(data: bytes, deadline: float | None = None) -> None:
        if len(data) > 9 and data[4] == 0xC1:  # FE len len id C1 flags tid pw pw code
            codes.append(data[9])
        await write(data, deadline)

    driver.link.transport.write = spy  # type: ignore[method-assign]
    return codes


async def test_a_status_just_read_is_not_asked_again(rig: Rig) -> None:
    """status() then fiscalize(), nothing sent in between (the worker's pre-flight): the shift policy
    uses the status the device gave moments ago instead of asking for it a second time. Once any other
    command has reached the device, the policy asks again."""
    driver = rig.driver()
    await driver.connect()
    try:
        await driver.fiscalize(receipt())
        await driver.status()
        codes = _commands_sent(driver)
        await driver.fiscalize(receipt())
        assert 0x3F not in codes  # no device-state query: straight to the receipt
        assert 0x92 in codes  # (open receipt)
        await driver.status()
        await driver.open_drawer()
        codes.clear()
        await driver.fiscalize(receipt())
        assert codes.count(0x3F) >= 1  # a command went out since the status: asked again
    finally:
        await driver.close()
    assert [d.kind for d in rig.sim.documents] == ["shift_open", "receipt", "receipt", "receipt"]


async def test_a_shift_expiring_between_status_and_receipt(rig: Rig) -> None:
    """The reused status said "open"; the shift expires before the receipt reaches the device, which
    refuses it: the policy runs again on a fresh status and the receipt is printed once."""
    driver = rig.driver(shift_policy=ShiftPolicy(auto_reopen=True))
    await driver.connect()
    try:
        await driver.fiscalize(receipt())
        rig.clock.advance(hours=23, minutes=59)
        assert (await driver.status()).shift_state is ShiftState.OPEN
        rig.clock.advance(minutes=2)
        result = await driver.fiscalize(receipt())
    finally:
        await driver.close()
    assert result.shift_closed_first is not None and result.shift_opened
    assert [d.kind for d in rig.sim.documents] == ["shift_open", "receipt", "shift_close", "shift_open", "receipt"]
    assert_matches(rig.sim, result.document)


async def test_the_status_confirms_the_last_document_in_its_own_pipeline(rig: Rig) -> None:
    """With the last document known, one pipeline asks 3F, the FN shift state and whether a document
    follows it ("no more data": no). A document the driver did not see is found all the same."""
    driver = rig.driver()
    await driver.connect()
    try:
        done = await driver.fiscalize(receipt())
        codes = _commands_sent(driver)
        status = await driver.status()
        assert status.last_document_number == done.document.number
        assert codes == [0x3F, 0xA4, 0xA4]  # 3F, A4 30 (FN shift state), A4 45 (the probe)
        driver._last_document = done.document.number - 1  # as if the receipt had been printed behind our back
        assert (await driver.status()).last_document_number == done.document.number
    finally:
        await driver.close()
