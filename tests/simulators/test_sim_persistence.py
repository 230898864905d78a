"""Fiscal memory survives a restart of the simulator and a simulated power cut."""

from __future__ import annotations

import json
from pathlib import Path

from sim_testutil import ITEMS, ITEMS_TOTAL, open_registration, sell

from protocols.atol import commands as cmd
from simulators.atol import DeviceConfig, FiscalMemory, ManualClock, Simulator, verify_fiscal_sign
from simulators.atol.testing import InProcessHost


def registered(tmp_path: Path, clock: ManualClock) -> tuple[Path, Simulator, InProcessHost]:
    """A simulator with a state file in `tmp_path`, registered and in registration mode."""
    path = tmp_path / "sim.db"
    sim = Simulator(DeviceConfig(), state_path=path, clock=clock)
    host = InProcessHost(sim)
    open_registration(host)
    return path, sim, host


def test_state_survives_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "sim.db"
    first = Simulator(DeviceConfig(), state_path=path, clock=clock)
    host = InProcessHost(first)
    open_registration(host)
    sell(host, ITEMS, [(cmd.PayType.ELECTRONIC, 1000)])
    host.call_ok(cmd.CashIn(0, 5000))
    key = first.device.sign_key
    before = [d.to_dict() for d in first.documents]

    second = Simulator(DeviceConfig(), state_path=path, clock=clock)
    assert [d.to_dict() for d in second.documents] == before
    assert second.device.sign_key == key
    host = InProcessHost(second)
    state = host.call(cmd.DeviceState())
    assert state.shift_open and state.shift_number == 1 and state.receipt_number == 1
    assert host.call(cmd.CashInDrawer()).amount == ITEMS_TOTAL - 1000 + 5000
    open_registration(host)
    sell(host, ITEMS[:1], [])
    assert [d.number for d in second.documents] == [1, 2, 3, 4]
    assert second.documents[-1].receipt_number == 2
    assert all(verify_fiscal_sign(key, d.to_dict()) for d in second.documents)


def test_registration_data_belongs_to_the_state_file(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "sim.db"
    config = DeviceConfig()
    config.registration.seller_name = "ИП Первый"
    Simulator(config, state_path=path, clock=clock)
    other = DeviceConfig()
    other.registration.seller_name = "ИП Другой"
    reopened = Simulator(other, state_path=path, clock=clock)
    assert reopened.config.registration.seller_name == "ИП Первый"


def test_commits_are_durable_transactions_in_one_file(tmp_path: Path, clock: ManualClock) -> None:
    path, sim, host = registered(tmp_path, clock)
    for _ in range(3):
        sell(host, ITEMS[:1], [])
    db = sim.memory._conn()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: the log is synced at every commit
    reader = FiscalMemory(path)
    data = reader.to_json_dict()  # another reader sees every committed document
    reader.close()
    sim.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.db"]  # closed: the log checkpointed, one file
    assert data["format"] == "kkm-bridge-atol-sim/1"
    assert [d["kind"] for d in data["documents"]] == ["shift_open", "receipt", "receipt", "receipt"]
    assert data["device"]["receipt_number"] == 3
    json.dumps(data)


def test_a_failed_commit_changes_nothing(tmp_path: Path, clock: ManualClock) -> None:
    path, sim, host = registered(tmp_path, clock)
    sell(host, ITEMS[:1], [])
    memory = sim.memory
    duplicate = memory.documents[-1]  # same number again: the INSERT fails inside the transaction
    import pytest

    with pytest.raises(Exception):
        memory.commit({"sign_key": "00"}, duplicate)
    reopened = FiscalMemory(path)
    assert [d.number for d in reopened.documents] == [1, 2]
    assert reopened.device is not None and reopened.device["sign_key"] != "00"


def test_extra_data_is_stored_whenever_it_changed(tmp_path: Path, clock: ManualClock) -> None:
    """A commit skips rewriting `extra` when it is unchanged since the last stored one; a change, also
    one whose first commit failed, must still reach the file."""
    import pytest

    path, sim, host = registered(tmp_path, clock)
    memory = sim.memory

    def stored_extra() -> dict:  # type: ignore[type-arg]
        reader = FiscalMemory(path)
        try:
            return reader.extra
        finally:
            reader.close()

    memory.extra["note"] = "a"
    sell(host, ITEMS[:1], [])
    assert stored_extra()["note"] == "a"
    sell(host, ITEMS[:1], [])  # unchanged: not rewritten, still there
    assert stored_extra()["note"] == "a" and "registration" in stored_extra()
    memory.extra["note"] = "b"
    with pytest.raises(Exception):  # a duplicate number: the transaction rolls back
        memory.commit(dict(memory.device or {}), memory.documents[-1])
    assert stored_extra()["note"] == "a"
    sell(host, ITEMS[:1], [])
    assert stored_extra()["note"] == "b"
    del memory.extra["note"]
    sell(host, ITEMS[:1], [])
    assert "note" not in stored_extra()
    sim.power_cut()
    assert "note" not in memory.extra and memory.extra["registration"]


def test_documents_past_the_last_one_are_absent(tmp_path: Path, clock: ManualClock) -> None:
    path, sim, host = registered(tmp_path, clock)
    sell(host, ITEMS[:1], [])
    memory = sim.memory
    memory._cache.clear()  # read from the file, not the cache
    last = len(memory)
    assert memory.get(last + 1) is None
    document = memory.get(last)
    assert document is not None and document.number == last and document.kind == "receipt"
    sell(host, ITEMS[:1], [])
    assert memory.get(last + 1) is not None
    sim.close()
    reopened = FiscalMemory(path)
    assert reopened.get(last + 1) is not None and reopened.get(last + 2) is None


def test_not_a_state_file(tmp_path: Path) -> None:
    import pytest

    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello " * 100)
    with pytest.raises(ValueError):
        FiscalMemory(bogus)


def test_power_cut_reloads_from_disk(tmp_path: Path, clock: ManualClock) -> None:
    path, sim, host = registered(tmp_path, clock)
    sell(host, ITEMS[:1], [])
    host.call_ok(cmd.OpenReceipt(0, 1))
    sim.power_cut()
    assert [d.kind for d in sim.documents] == ["shift_open", "receipt"]
    state = host.call(cmd.DeviceState())
    assert (state.mode, state.receipt_state, state.shift_open) == (0, 0, True)
    assert FiscalMemory(path).documents[-1].kind == "receipt"


def test_in_memory_power_cut_keeps_committed_documents(sim: Simulator, host: InProcessHost) -> None:
    open_registration(host)
    sell(host, ITEMS[:1], [])
    sim.power_cut()
    assert [d.kind for d in sim.documents] == ["shift_open", "receipt"]
    assert sim.device.durable.receipt_number == 1


def test_state_files_are_owner_only(tmp_path: Path, clock: ManualClock) -> None:
    """The state file carries the fiscal-sign key: 0600 when created (even with a permissive umask),
    its WAL side files too, and a pre-existing looser file is tightened on open."""
    import os
    import stat

    old_umask = os.umask(0)
    try:
        path = tmp_path / "sim.sqlite3"
        sim = Simulator(DeviceConfig(), clock=clock, state_path=path)
        host = InProcessHost(sim)
        open_registration(host)
        sell(host, ITEMS[:1], [])
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir() if p.name.startswith("sim.")}
        assert modes["sim.sqlite3"] == 0o600
        assert all(mode == 0o600 for mode in modes.values()), modes
        sim.close()
        path.chmod(0o644)
        FiscalMemory(path).close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)
