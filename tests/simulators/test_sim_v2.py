"""Transport v2 (optional): the same device behind the ENQ/ACK/STX…ETX/EOT handshake."""

from __future__ import annotations

from typing import Any

from sim_testutil import FakeMonotonic

from protocols.atol import commands as cmd
from protocols.atol.v2 import Deliver, Failed, HostLink, Write
from simulators.atol import DeviceConfig, ManualClock, Simulator


def v2_call(sim: Simulator, request: Any) -> Any:
    """Run one v2 exchange between protocols' HostLink and the simulator, in-process."""
    host = HostLink()
    actions = host.send(cmd.encode_request(request))
    delivered: bytes | None = None
    for _ in range(50):
        wire = b"".join(a.data for a in actions if isinstance(a, Write))
        for action in actions:
            if isinstance(action, Deliver):
                delivered = action.data
            if isinstance(action, Failed):
                raise AssertionError(action.reason)
        answer = sim.feed(wire)  # after Deliver this is our ACK, answered by the device's EOT
        actions = host.receive(answer) if answer else []
        if delivered is not None and host.idle:
            return cmd.decode_reply(cmd.command_code(request), delivered)
        if not actions:
            raise AssertionError("exchange stalled")
    raise AssertionError("too many steps")


def test_sale_over_v2(clock: ManualClock) -> None:
    sim = Simulator(DeviceConfig(), clock=clock, protocol="v2")
    assert v2_call(sim, cmd.EnterMode(1, 30)) == cmd.Ok()
    assert v2_call(sim, cmd.OpenReceipt(0, 1)) == cmd.Ok()
    assert v2_call(sim, cmd.RegisterItem(2, "Хлеб", 15000, 2000, tax=1)) == cmd.Ok()
    assert v2_call(sim, cmd.CloseReceipt(0, 1, 0)) == cmd.Ok()
    assert v2_call(sim, cmd.OpenReceipt(0, 9)) == cmd.ErrorReply(0x6A)
    assert [d.kind for d in sim.documents] == ["shift_open", "receipt"]
    assert sim.documents[-1].total == 30000


def test_v2_device_resends_its_answer_after_a_nak(clock: ManualClock, mono: FakeMonotonic) -> None:
    sim = Simulator(DeviceConfig(), clock=clock, protocol="v2", monotonic=mono)
    sim.faults.corrupt_next(command=0x3F)
    # Host side by hand: ENQ, frame, EOT; the device answers ENQ, we ACK, a corrupt frame arrives, we NAK.
    host = HostLink()
    wire = b"".join(a.data for a in host.send(cmd.encode_request(cmd.DeviceState())) if isinstance(a, Write))
    delivered = None
    for _ in range(20):
        answer = sim.feed(wire)
        if not answer:
            mono.advance(1.0)  # let the device's timer run (e.g. resend after no reaction)
            answer = sim.feed(b"")
        actions = host.receive(answer)
        wire = b"".join(a.data for a in actions if isinstance(a, Write))
        delivered = next((a.data for a in actions if isinstance(a, Deliver)), None)
        if delivered is not None:
            break
    assert delivered is not None
    assert isinstance(cmd.decode_reply(0x3F, delivered), cmd.DeviceStateReply)
    assert "corrupt cmd=3F" in sim.faults.triggered
