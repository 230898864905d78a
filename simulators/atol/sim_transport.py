"""`sim://NAME`: an in-process simulator behind the daemon's ordinary `Transport` interface.

Why: the driver and the daemon are tested end to end against the simulator without sockets or ptys,
through exactly the code path a real printer uses (`open_transport(uri)`). Importing this module
registers the `sim` scheme with `kkm_bridge.transports` (the transports package leaves the scheme to
the simulator so that it does not import `simulators`).

    from simulators.atol.sim_transport import register_simulator
    sim = Simulator(...)                          # faults, clock, state as you like
    register_simulator("till1", sim)
    transport = open_transport("sim://till1")     # the driver's usual entry point

`sim://NAME` finds the simulator registered under NAME; an unknown NAME creates a new default one
(options: `state=<file>` to persist, `width=32|48`) and registers it, so reconnecting reaches the same
device, as with hardware. Emission delays (timing emulation, baud pacing) are honoured with the event
loop's timers; a `disconnect` fault delivers half a frame and then fails reads with `Disconnected`
until `connect()` is called again; a stall releases its held reply when it ends.

Durability (option `sync`, URI `sim://NAME?sync=thread`): with a state file, every committed document is
on disk before the reply that reports it leaves the device. `sync="inline"` (the default) commits with
`synchronous=FULL` where the command runs, as every other user of the simulator does: the loop stands still
for that fsync (about a tenth of a millisecond on an SSD), and nothing else is needed. `sync="thread"` is a
durability barrier for disks with slow fsyncs: the commits do not fsync on the event loop
(`FiscalMemory.defer_sync`); after a command that committed, the transport fsyncs the state file's log on a
thread of its own and holds everything the device sends from then on until that is done. A failed sync
drops the held output and hangs the link up. Why inline is the default: the device's reply waits for the
fsync either way, and the thread's hand-over (a loop wake-up, the GIL's ping-pong) cost more than the fsync
it moved: on `bench/http.py`'s setup (c8, 1,500 sales, three alternating pairs) inline gave 11-27 % more
receipts per second, once the daemon's own journal writes no longer fsync'd concurrently from threads.
"""


from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from kkm_bridge.transports.base import Deadline, Transport
from kkm_bridge.transports.errors import Disconnected
from kkm_bridge.transports.memory import InboxTransport
from kkm_bridge.transports.uri import TransportAddress, register_scheme

from .config import DeviceConfig
from .fiscal_memory import FiscalMemory
from .simulator import Emission, Simulator

logger = logging.getLogger(__name__)

_SIMULATORS: dict[str, Simulator] = {}

#: Values of the `sync` option.
SYNC_MODES = ("inline", "thread")
#: The thread that fsyncs state files (made on first use). Not the loop's default executor: the
#: daemon's journal runs its SQLite work there (`asyncio.to_thread`), and a device reply must not queue
#: behind it, nor the journal behind a sync.
_sync_executor: ThreadPoolExecutor | None = None


def _syncer() -> ThreadPoolExecutor:
    global _sync_executor
    if _sync_executor is None:
        _sync_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-state-sync")
    return _sync_executor


def register_simulator(name: str, sim: Simulator) -> None:
    """Make `sim://name` reach `sim` (replacing any earlier simulator of that name)."""
    _SIMULATORS[name] = sim


def unregister_simulator(name: str) -> None:
    _SIMULATORS.pop(name, None)


def get_simulator(name: str) -> Simulator | None:
    return _SIMULATORS.get(name)


class SimTransport(InboxTransport):
    """A Transport whose other end is a `Simulator` in the same process."""

    def __init__(self, sim: Simulator, address: str = "sim://default", *, sync: str = "inline") -> None:
        super().__init__(address)
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {', '.join(SYNC_MODES)}, not {sync!r}")
        self.sim = sim
        self.sync = sync
        self._timers: set[asyncio.TimerHandle] = set()
        self._wake: asyncio.TimerHandle | None = None
        self._due = 0.0  # loop time until which earlier output is still "on the wire"
        self._syncing = False  # the state file's fsync is in flight
        self._waiting: list[Emission] = []  # output held until that fsync is done

    async def connect(self, deadline: Deadline = None) -> None:
        self._open = True
        self._hangup = None

    async def close(self) -> None:
        self._open = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        self._waiting.clear()
        self._incoming.clear()
        self._arrived.set()

    async def _write(self, data: bytes, deadline: Deadline) -> None:
        if self._hangup is not None:
            self._open = False
            raise Disconnected(f"{self.address}: {self._hangup}")
        self._run(data)

    def _run(self, data: bytes) -> None:
        """Feed the device; pass on what it sends once everything it committed is durable."""
        memory = self.sim.memory
        if self.sync == "inline" and not self._syncing:  # a FULL commit in place: durable before the reply
            self._deliver(self.sim.process(data))
            return
        memory.defer_sync = True  # only for this call: other users of the simulator commit with FULL
        try:
            emissions = self.sim.process(data)
        finally:
            memory.defer_sync = False
        if not self._syncing and not memory.unsynced:
            self._deliver(emissions)
            return
        self._waiting += emissions
        if not self._syncing:
            self._start_barrier()

    def _start_barrier(self) -> None:
        memory = self.sim.memory
        _syncer().submit(self._sync, asyncio.get_running_loop(), memory)
        memory.unsynced = False  # covered by that sync: every commit so far happened on this thread
        self._syncing = True

    def _sync(self, loop: asyncio.AbstractEventLoop, memory: FiscalMemory) -> None:
        """On the sync thread: fsync, then hand the outcome straight to the loop (one wake-up, no
        future chained to a future)."""
        error: BaseException | None = None
        try:
            memory.sync()
        except BaseException as exc:  # reported on the loop: the held output is dropped
            error = exc
        try:
            loop.call_soon_threadsafe(self._synced, error)
        except RuntimeError:  # the loop has closed: nobody waits for this output any more
            pass

    def _synced(self, error: BaseException | None) -> None:
        self._syncing = False
        if error is not None:
            logger.error("%s: the simulator's state file could not be synced: %s", self.address, error)
            self.sim.memory.unsynced = True  # whatever the device says next waits for a sync that works
            self._waiting.clear()
            self._hang_up(f"state file sync failed: {error}")
            return
        if self.sim.memory.unsynced:  # committed again meanwhile: everything waits for that too
            self._start_barrier()
            return
        waiting, self._waiting = self._waiting, []
        if self._open:
            self._deliver(waiting)  # even if empty: it also schedules the wake-up of a stall or busy task

    def _deliver(self, emissions: list[Emission]) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = max(now, self._due)
        baud = self.sim.timing.baud
        ready: list[bytes] = []  # frames due now, pushed together: one wake-up of the reader, not one each
        for emission in emissions:
            data = emission.data
            if baud:
                at += emission.delay + len(data) * 10 / baud  # `WireTiming.wire_seconds`, inlined
            elif emission.delay:
                at += emission.delay
            if at <= now:
                if emission.disconnect or self._timers:
                    self._push_ready(ready)
                    self._arrive(data, emission.disconnect)
                else:
                    ready.append(data)
            else:
                self._push_ready(ready)
                handle = loop.call_at(at, self._arrive, data, emission.disconnect)
                self._timers.add(handle)
        self._push_ready(ready)
        self._due = at
        if self._wake is None:  # (asked only when no wake-up is set: it would not be used)
            due = self.sim.wake_at()
            if due is not None:
                delay = max(0.0, due - self.sim.monotonic()) + 0.001
                self._wake = loop.call_later(delay, self._poll)

    def _push_ready(self, ready: list[bytes]) -> None:
        """Push the frames collected by `_deliver` (what `_arrive` does for each, without timers)."""
        if ready:
            if self._open:
                self._push(ready[0] if len(ready) == 1 else b"".join(ready))
            ready.clear()

    def _poll(self) -> None:
        self._wake = None
        if self._open:
            self._run(b"")

    def _arrive(self, data: bytes, disconnect: bool) -> None:
        if self._timers:  # forget the timers that have run or were cancelled (none without timing)
            now = asyncio.get_running_loop().time()
            self._timers = {t for t in self._timers if not t.cancelled() and t.when() > now}
        if not self._open:
            return
        self._push(data)
        if disconnect:
            self._hang_up("link dropped")


def _factory(address: TransportAddress) -> Transport:
    name = address.netloc or address.path.strip("/") or "default"
    state = address.get_str("state")
    width = address.get_int("width", 48, minimum=32)
    sync = address.get_str("sync") or "inline"
    if sync not in SYNC_MODES:
        from kkm_bridge.transports.errors import InvalidAddress

        raise InvalidAddress(f"{address.uri!r}: sync must be one of {', '.join(SYNC_MODES)}")
    sim = _SIMULATORS.get(name)
    if sim is None:
        sim = Simulator(DeviceConfig(line_width=width), state_path=state)
        _SIMULATORS[name] = sim
    return SimTransport(sim, address.uri, sync=sync)


register_scheme("sim", _factory, replace=True)
