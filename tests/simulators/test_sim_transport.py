"""`sim://` through the daemon's Transport interface (what the driver's own tests use)."""

from __future__ import annotations

import pytest

from kkm_bridge.transports import Disconnected, InvalidAddress, TransportTimeout, deadline_in, open_transport
from protocols.atol import commands as cmd
from protocols.atol.v3 import FrameDecoder
from protocols.atol.v3_buffer import AddFlags, TaskState, decode_device
from simulators.atol import DeviceConfig, Simulator, WireTiming
from simulators.atol.sim_transport import SimTransport, get_simulator, register_simulator, unregister_simulator
from simulators.atol.testing import HostCodec


async def exchange(transport, codec: HostCodec, frame: bytes, frames: int = 1):  # type: ignore[no-untyped-def]
    await transport.write(frame, deadline_in(2))
    decoder = FrameDecoder()
    out: list = []
    while len(out) < frames:
        out += decoder.feed(await transport.read(4096, deadline_in(2)))
    return out


async def test_open_transport_reaches_a_registered_simulator() -> None:
    sim = Simulator(DeviceConfig())
    register_simulator("till-test", sim)
    try:
        transport = open_transport("sim://till-test")
        await transport.connect(deadline_in(1))
        codec = HostCodec()
        frame, _, tid = codec.add_frame(cmd.EnterMode(1, 30), flags=AddFlags.NEED_RESULT)
        accepted, result = await exchange(transport, codec, frame, 2)
        assert decode_device(accepted.data).state == TaskState.PENDING
        assert decode_device(result.data).state == TaskState.ASYNC_RESULT and result.packet_id == 0xF0
        await transport.close()
    finally:
        unregister_simulator("till-test")


async def test_unknown_name_creates_a_persistent_device(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.db"
    transport = open_transport(f"sim://fresh-one?state={path}&width=32")
    try:
        assert isinstance(transport, SimTransport) and transport.sim is get_simulator("fresh-one")
        assert transport.sim.config.line_width == 32 and path.exists()
    finally:
        unregister_simulator("fresh-one")


async def test_dropped_reply_times_out_and_disconnect_fault_drops_the_link() -> None:
    sim = Simulator(DeviceConfig(), timing=WireTiming(command_seconds=0.01, baud=115200))
    transport = SimTransport(sim)
    await transport.connect()
    codec = HostCodec()
    sim.faults.drop_next()
    frame, _, tid = codec.add_frame(cmd.Beep())
    await transport.write(frame, deadline_in(1))
    with pytest.raises(TransportTimeout):
        await transport.read(100, deadline_in(0.05))
    (status,) = await exchange(transport, codec, codec.req_frame(tid))
    assert decode_device(status.data).state == TaskState.RESULT
    sim.faults.disconnect_next(seconds=0.0)
    await transport.write(codec.ack_frame(tid), deadline_in(1))
    half = await transport.read(100, deadline_in(1))
    assert half and FrameDecoder().feed(half) == []
    with pytest.raises(Disconnected):
        await transport.read(100, deadline_in(1))
    await transport.connect()
    frame, _, _ = codec.add_frame(cmd.Beep())
    (status,) = await exchange(transport, codec, frame)
    assert decode_device(status.data).state == TaskState.RESULT
    await transport.close()


async def test_stall_over_sim_transport() -> None:
    sim = Simulator(DeviceConfig())
    sim.faults.stall_next(0.05)
    transport = SimTransport(sim)
    await transport.connect()
    codec = HostCodec()
    frame, _, _ = codec.add_frame(cmd.Beep())
    (status,) = await exchange(transport, codec, frame)
    assert decode_device(status.data).state == TaskState.RESULT
    await transport.close()


class BlockingSync:
    """Stands in for `FiscalMemory.sync`: records each call, runs the real fsync, and can be held."""

    def __init__(self, real, fail: Exception | None = None) -> None:  # type: ignore[no-untyped-def]
        import threading

        self.real = real
        self.fail = fail
        self.calls = 0
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.started.set()
        assert self.release.wait(10), "the test never released the sync"
        if self.fail is not None:
            raise self.fail
        self.real()


async def wait_for(event, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    for _ in range(int(seconds / 0.005)):
        if event.is_set():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


async def test_state_file_replies_wait_until_the_commit_is_durable(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No reply leaves before the document it reports is fsynced: the commit runs without waiting for
    the disk, the log is fsynced off the event loop, and the reply is held until that is done."""
    import os

    from simulators.atol import fiscal_memory
    from simulators.atol.testing import InProcessHost

    path = tmp_path / "s.db"
    sim = Simulator(DeviceConfig(), state_path=path)
    memory = sim.memory
    sync = BlockingSync(memory.sync)
    monkeypatch.setattr(memory, "sync", sync)
    synced: list[int] = []
    real_sync = fiscal_memory._datasync
    monkeypatch.setattr(fiscal_memory, "_datasync", lambda fd: (synced.append(os.fstat(fd).st_ino), real_sync(fd))[1])
    transport = SimTransport(sim, sync="thread")
    await transport.connect()
    codec = HostCodec()
    frame, _, _ = codec.add_frame(cmd.EnterMode(1, 30))
    (status,) = await exchange(transport, codec, frame)  # nothing committed: answered at once
    assert decode_device(status.data).state == TaskState.RESULT and sync.calls == 0

    frame, _, _ = codec.add_frame(cmd.OpenShift(), flags=AddFlags.NEED_RESULT)
    await transport.write(frame, deadline_in(1))
    await wait_for(sync.started)
    assert [d.kind for d in memory.documents] == ["shift_open"]  # committed (the log is written) ...
    assert memory._conn().execute("PRAGMA synchronous").fetchone()[0] == 1  # ... without waiting for the disk
    with pytest.raises(TransportTimeout):  # ... and neither the A1 nor the result leaves before the fsync
        await transport.read(4096, deadline_in(0.1))
    assert synced == []
    sync.release.set()
    accepted, result = await exchange(transport, codec, b"", 2)
    assert decode_device(accepted.data).state == TaskState.PENDING
    assert decode_device(result.data).state == TaskState.ASYNC_RESULT
    assert synced == [os.stat(str(path) + "-wal").st_ino] and sync.calls == 1 and not memory.unsynced

    # Another user of the same simulator (a test's feed(), a server) commits with synchronous=FULL.
    host = InProcessHost(sim)
    host.codec.task_id = 100  # clear of the task ids still in the buffer
    host.call_ok(cmd.CashIn(0, 100))
    assert memory._conn().execute("PRAGMA synchronous").fetchone()[0] == 2 and not memory.unsynced
    assert sync.calls == 1
    await transport.close()
    sim.close()


async def test_a_failed_sync_drops_the_reply_and_the_link(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sim = Simulator(DeviceConfig(), state_path=tmp_path / "s.db")
    sync = BlockingSync(sim.memory.sync, fail=OSError(5, "Input/output error"))
    sync.release.set()
    monkeypatch.setattr(sim.memory, "sync", sync)
    transport = SimTransport(sim, sync="thread")
    await transport.connect()
    codec = HostCodec()
    for request in (cmd.EnterMode(1, 30), cmd.OpenShift()):
        frame, _, _ = codec.add_frame(request)
        await transport.write(frame, deadline_in(1))
    decoder = FrameDecoder()
    frames = decoder.feed(await transport.read(4096, deadline_in(1)))  # EnterMode's reply only
    assert [decode_device(f.data).state for f in frames] == [TaskState.RESULT]
    with pytest.raises(Disconnected):  # OpenShift's reply was never confirmed durable: never sent
        await transport.read(4096, deadline_in(2))
    assert sync.calls == 1
    sync.fail = None  # the disk is back: after a reconnect, the next reply waits for a sync that works
    await transport.connect()
    frame, _, _ = codec.add_frame(cmd.Beep())
    (status,) = await exchange(transport, codec, frame)
    assert decode_device(status.data).state == TaskState.RESULT and sync.calls == 2
    sim.close()


async def test_ram_only_simulator_needs_no_sync(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sim = Simulator(DeviceConfig())
    monkeypatch.setattr(sim.memory, "sync", lambda: pytest.fail("nothing to sync in RAM"))
    transport = SimTransport(sim)
    await transport.connect()
    codec = HostCodec()
    for request in (cmd.EnterMode(1, 30), cmd.OpenShift()):
        frame, _, _ = codec.add_frame(request)
        (status,) = await exchange(transport, codec, frame)
        assert decode_device(status.data).state == TaskState.RESULT
    assert [d.kind for d in sim.documents] == ["shift_open"] and not sim.memory.unsynced
    await transport.close()


async def test_power_cut_after_a_close_over_sim_transport_keeps_the_receipt(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from simulators.atol import FiscalMemory

    path = tmp_path / "s.db"
    sim = Simulator(DeviceConfig(), state_path=path)
    sim.faults.power_cut("after_close_receipt_before_reply")
    transport = SimTransport(sim)
    await transport.connect()
    codec = HostCodec()
    for request in (cmd.EnterMode(1, 30), cmd.OpenReceipt(0, 1), cmd.RegisterItem(2, "Хлеб", 15000, 1000, tax=1)):
        frame, _, _ = codec.add_frame(request)
        (status,) = await exchange(transport, codec, frame)
        assert decode_device(status.data).state == TaskState.RESULT
    frame, _, _ = codec.add_frame(cmd.CloseReceipt(0, 1, 0))
    await transport.write(frame, deadline_in(1))
    with pytest.raises(TransportTimeout):  # the power went before the reply
        await transport.read(4096, deadline_in(0.2))
    assert sim.power_cuts == 1 and not sim.memory.unsynced  # the commit was synced all the same
    reader = FiscalMemory(path)  # another connection: what is in the file
    try:
        assert [d.kind for d in reader.documents] == ["shift_open", "receipt"]
    finally:
        reader.close()
    await transport.close()
    sim.close()


async def test_inline_sync_commits_with_full_before_the_reply(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The default: the commit fsyncs in place (synchronous=FULL), so the reply that follows it is already
    durable; the deferred path (and its thread) is not used."""
    import sqlite3

    sim = Simulator(DeviceConfig(), state_path=tmp_path / "s.db")
    deferred: list[bool] = []
    commit = sim.memory.commit

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        deferred.append(sim.memory.defer_sync)
        return commit(*args, **kwargs)

    monkeypatch.setattr(sim.memory, "commit", spy)
    monkeypatch.setattr(sim.memory, "sync", lambda: (_ for _ in ()).throw(AssertionError("no deferred sync")))
    transport = SimTransport(sim)
    assert transport.sync == "inline"
    await transport.connect()
    codec = HostCodec()
    for request in (cmd.EnterMode(1, 30), cmd.OpenShift()):
        frame, _, _ = codec.add_frame(request)
        await exchange(transport, codec, frame)
    assert deferred == [False] and not sim.memory.unsynced  # the shift-open document, committed at FULL
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 1
    db.close()


def test_the_sync_option_in_the_uri() -> None:
    try:
        assert open_transport("sim://sync-option").sync == "inline"  # type: ignore[attr-defined]
        assert open_transport("sim://sync-option?sync=thread").sync == "thread"  # type: ignore[attr-defined]
        with pytest.raises(InvalidAddress):
            open_transport("sim://sync-option?sync=sometimes")
    finally:
        unregister_simulator("sync-option")
