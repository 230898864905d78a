"""The simulator does not grow with the number of receipts: a daemon runs it for months.

Fiscal documents live in SQLite (a file, or an in-memory database without a state path), not in Python
objects; the printed tape, the document cache and the executed-commands log are bounded. The check is
deterministic: it walks the object graph reachable from the `Simulator` and compares its size after a
warm-up with its size after two thousand more receipts (no wall clock, no process RSS).
"""

from __future__ import annotations

import gc
import sys
import types
from pathlib import Path
from typing import Any

from sim_testutil import ITEMS, open_registration, sell

from protocols.atol import commands as cmd
from simulators.atol import DeviceConfig, FiscalMemory, ManualClock, Simulator
from simulators.atol.testing import InProcessHost

#: Not part of one simulator's state: code, classes, modules (shared by every object in the process).
_SHARED = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType,
           types.MethodDescriptorType, types.WrapperDescriptorType, types.GetSetDescriptorType)


def retained(root: Any) -> tuple[int, int]:
    """(objects, bytes) reachable from `root`, not counting code, classes and modules."""
    seen: set[int] = set()
    stack = [root]
    count = size = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        count += 1
        size += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return count, size


def receipts(sim: Simulator, host: InProcessHost, count: int) -> None:
    """Sales as the driver makes them: the receipt, then reading the new document back (A4 45, A4 46)."""
    for _ in range(count):
        reply = sell(host, ITEMS[:2], [])
        assert not isinstance(reply, cmd.ErrorReply), reply
        host.call_ok(cmd.FnOpenDocument(sim.device.durable.last_document_number))
        host.call_ok(cmd.FnReadTlv())
        host.call_ok(cmd.DeviceState())


def test_two_thousand_receipts_do_not_grow_the_simulator(clock: ManualClock) -> None:
    sim = Simulator(DeviceConfig(sign_key_seed=3), clock=clock)
    host = InProcessHost(sim)
    open_registration(host)
    receipts(sim, host, 300)  # fill the tape, the document cache and the command log to their bounds
    gc.collect()
    objects_before, bytes_before = retained(sim)
    receipts(sim, host, 2000)
    gc.collect()
    objects_after, bytes_after = retained(sim)
    assert len(sim.memory) == 2301 and sim.device.durable.receipt_number == 2300
    # Before: every document in RAM and 100,000 logged commands: +107,000 objects here, megabytes.
    assert objects_after - objects_before < 1000, (objects_before, objects_after)
    assert bytes_after - bytes_before < 128 * 1024, (bytes_before, bytes_after)
    assert len(sim.device.tape) == sim.config.tape_keep
    assert sim.task_buffer.tasks == {}  # every task was ACKed and forgotten


def test_documents_are_read_from_the_store_on_demand(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "sim.db"
    sim = Simulator(DeviceConfig(sign_key_seed=3), state_path=path, clock=clock)
    sim.memory.cache_size = 4
    host = InProcessHost(sim)
    open_registration(host)
    receipts(sim, host, 10)
    memory = sim.memory
    assert len(memory._cache) <= 4
    assert [d.number for d in sim.documents] == list(range(1, 12))
    # An old document (not cached) reads back through A4 45/46 exactly as stored.
    first_receipt = memory.get(2)
    assert first_receipt is not None and first_receipt.kind == "receipt" and first_receipt.receipt_number == 1
    assert first_receipt.to_dict() == FiscalMemory(path).documents[1].to_dict()
    reply = host.call_ok(cmd.FnOpenDocument(2))
    assert int.from_bytes(reply.data[:2], "little") == 3  # a receipt
    assert memory.last() is not None and memory.last().number == 11  # type: ignore[union-attr]
    assert len(memory._cache) <= 4
    sim.close()
    assert [d.number for d in sim.documents] == list(range(1, 12))  # still readable after close


def test_the_tape_keeps_the_last_documents(clock: ManualClock) -> None:
    sim = Simulator(DeviceConfig(sign_key_seed=3, tape_keep=5), clock=clock)
    printed: list[int | None] = []
    sim.device.on_print = lambda document: printed.append(document.document_number)
    host = InProcessHost(sim)
    open_registration(host)
    receipts(sim, host, 8)
    assert len(printed) == 9  # shift open + 8 receipts: every one reached on_print (--tape-dir)
    assert [p.document_number for p in sim.device.tape] == printed[-5:]
    assert sim.device.tape[-1].document_number == 9 and sim.device.tape[-1].kind == "receipt"


def test_unsent_offline_documents_are_counted_without_loading_them(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "sim.db"
    sim = Simulator(DeviceConfig(sign_key_seed=3), state_path=path, clock=clock)
    host = InProcessHost(sim)
    open_registration(host)
    receipts(sim, host, 2)  # online
    sim.config.offline = True
    receipts(sim, host, 3)  # documents 4..6 made offline
    state = host.call_ok(cmd.FnOfdState())
    assert (state.unsent_count, state.first_unsent_number) == (3, 4)
    assert [d.number for d in sim.device.unsent_documents()] == [4, 5, 6]
    sim.close()
    reopened = Simulator(DeviceConfig(sign_key_seed=3), state_path=path, clock=clock)  # counted from the file
    state = InProcessHost(reopened).call_ok(cmd.FnOfdState())
    assert (state.unsent_count, state.first_unsent_number) == (3, 4)
    reopened.close()


def test_fault_log_is_bounded() -> None:
    from simulators.atol.faults import TRIGGERED_KEEP, Faults

    faults = Faults(seed=1, drop_rate=1.0)
    for _ in range(3 * TRIGGERED_KEEP):
        assert faults.should_drop()
    assert TRIGGERED_KEEP // 2 <= len(faults.triggered) <= TRIGGERED_KEEP
    assert faults.triggered[-1] == "drop_rate"
