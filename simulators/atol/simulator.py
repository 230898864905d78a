"""`Simulator`: the whole simulated printer behind one bytes-in / bytes-out object.

In-process use (tests, a driver's unit tests)::

    sim = Simulator(state_path=None)          # or state_path="state.json" to persist
    reply = sim.feed(frame_bytes)             # the synchronous answer frames
    async_frames = sim.read_async()           # F0 frames (results of NEED_RESULT tasks)

`process(data)` is the detailed form the servers use: it returns `Emission`s that also say how long
the device "worked" before the bytes leave (`delay`, per-command timing emulation) and whether the
link drops after them (`disconnect`, a fault). Time for stalls and power-off periods is read from
`monotonic` (real time by default, injectable in tests); the device's calendar clock (shift expiry)
is the separate injectable `clock`.

A power cut (a fault, or `power_cut()`) reloads the device from its fiscal memory: the task buffer,
the open receipt and the resend cache are gone, every committed fiscal document is still there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .config import DeviceConfig
from .device import Device
from .dispatch import Dispatcher
from .faults import Faults
from .fiscal_memory import FiscalDocument, FiscalMemory
from .link_v2 import LinkV2
from .link_v3 import LinkV3
from .task_buffer import Task, TaskBuffer


class PowerCut(Exception):
    """Raised inside command processing when a power-cut fault fires."""

    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage


@dataclass(slots=True)
class Emission:
    """Bytes the device sends, with wire-level instructions for the server carrying them."""

    data: bytes
    is_async: bool = False
    delay: float = 0.0  # seconds of device work before these bytes go out (timing emulation)
    disconnect: bool = False  # the link drops right after these bytes


@dataclass
class WireTiming:
    """Optional timing emulation; everything off (0/None) by default.

    `baud`: pace output at `bytes * 10 / baud` seconds (8N1). `command_seconds`: fixed processing time
    per executed command. `line_seconds`: extra time per printed tape line (printing speed).
    `busy_device`: model the processing time inside the device instead of delaying the answer bytes:
    while a command runs, its task is `A2` for REQ and later ADDs queue up (`A1`); see `link_v3`.
    """

    baud: int | None = None
    command_seconds: float = 0.0
    line_seconds: float = 0.0
    busy_device: bool = False

    def wire_seconds(self, nbytes: int) -> float:
        return nbytes * 10 / self.baud if self.baud else 0.0


class Simulator:
    """A simulated ATOL printer speaking transport v3."""

    def __init__(
        self,
        config: DeviceConfig | None = None,
        *,
        state_path: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        faults: Faults | None = None,
        timing: WireTiming | None = None,
        tax_table: dict[int, object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        protocol: str = "v3",
        dialect: Any = None,
    ) -> None:
        if protocol not in ("v2", "v3"):
            raise ValueError(f"protocol must be 'v2' or 'v3', not {protocol!r}")
        self.protocol = protocol
        self.config = config or DeviceConfig()
        self.memory = FiscalMemory(state_path)
        self.device = Device(self.config, self.memory, clock, tax_table)
        self.dispatcher = Dispatcher(self.device) if dialect is None else Dispatcher(self.device, dialect)
        self.faults = faults or Faults()
        self.timing = timing or WireTiming()
        self.monotonic = monotonic
        self.device.fault_hook = self._device_hook
        self.device.paper_left = self.faults.paper_out_after
        self.device.cover_opens_after = self.faults.cover_open_after
        self.power_cuts = 0
        self.disconnects = 0
        self._async_out = bytearray()
        self._held: list[Emission] = []  # output withheld by a stall
        self._pending_input = bytearray()  # input received during a stall, processed after it
        self._stall_until = 0.0
        self._off_until = 0.0  # powered off / link down: input is lost
        self._out: list[Emission] = []
        self._current_command: int | None = None
        self._delay = 0.0
        self._busy_seconds = 0.0
        self._new_link()

    def _new_link(self) -> None:
        self.link: LinkV3 | LinkV2
        if self.protocol == "v2":
            self.link = LinkV2(self._execute, self._emit, self.monotonic)
            self._ticks = True
            return
        buffer = TaskBuffer(self.config.task_buffer_size, self.config.stop_after_error)
        self.link = LinkV3(buffer, self._execute, self._emit, busy=self.timing.busy_device,
                           clock=self.monotonic, take_busy_seconds=self._take_busy_seconds)
        self._ticks = self.link.busy  # a v3 link without busy mode has nothing to do in `tick()`

    # -- public API --------------------------------------------------------------------------------

    @property
    def documents(self) -> list[FiscalDocument]:
        """Every committed fiscal document, oldest first, read from the store (for tests and tools: it
        costs O(documents); the simulator itself never calls it)."""
        return list(self.memory.documents)

    @property
    def task_buffer(self) -> TaskBuffer:
        if not isinstance(self.link, LinkV3):
            raise AttributeError("transport v2 has no task buffer")
        return self.link.buffer

    def feed(self, data: bytes) -> bytes:
        """Give the device bytes; get back the synchronous answer bytes. Async frames: `read_async()`."""
        sync = bytearray()
        for emission in self.process(data):
            if emission.is_async:
                self._async_out += emission.data
            else:
                sync += emission.data
        return bytes(sync)

    def read_async(self) -> bytes:
        """Async (F0) frames produced so far, removed from the queue."""
        data, self._async_out = bytes(self._async_out), bytearray()
        return data

    def wake_at(self) -> float | None:
        """Monotonic time at which the device has something to do by itself: a stall ends, a busy task
        finishes, a v2 link timer fires. Servers call `poll()` then; None: nothing pending."""
        if self._held or self._pending_input:
            return self._stall_until
        if isinstance(self.link, LinkV2):
            return self.link.timer_due
        if self.link.busy and self.link.work_pending():
            return self.link.busy_until
        return None

    def poll(self) -> list[Emission]:
        """Run what became due (see `wake_at`) and return what the device sends because of it."""
        return self.process(b"")

    def process(self, data: bytes) -> list[Emission]:
        """Feed bytes and return everything the device sends in response, with wire instructions."""
        now = self.monotonic()
        if now < self._off_until:
            return []  # powered off or link down: the bytes are lost
        if now < self._stall_until:
            self._pending_input += data
            return []
        out: list[Emission] = self._held
        self._held = []
        if self._pending_input:
            data, self._pending_input = bytes(self._pending_input) + data, bytearray()
        if data and self.faults.corrupt_in_rate > 0:
            data = self.faults.corrupt_bytes(data, self.faults.corrupt_in_rate)
        self._out = out
        try:
            if self._ticks:  # (no call for a v3 link without busy mode: its `tick()` does nothing)
                self.link.tick()  # work that finished while we waited comes before the new input
            if data:
                self.link.receive(data)
            if self._ticks:
                self.link.tick()
        except PowerCut:
            self._after_power_cut()
        finally:
            self._out = []
        return out

    def close(self) -> None:
        """Release the state file (the simulator must not be used afterwards)."""
        self.memory.close()

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def power_cut(self, off_seconds: float = 0.0) -> None:
        """Cut the power now (between commands)."""
        self.faults.note("power_cut:manual")
        self._after_power_cut(off_seconds)

    # -- internals ---------------------------------------------------------------------------------

    def _after_power_cut(self, off_seconds: float | None = None) -> None:
        self.power_cuts += 1
        self.device.power_cycle()
        self._new_link()
        self._held = []
        self._pending_input = bytearray()
        self._async_out = bytearray()
        seconds = self.faults.power_off_seconds if off_seconds is None else off_seconds
        self._off_until = self.monotonic() + seconds
        self._stall_until = 0.0

    def _cut_if(self, stage: str, command: int | None) -> None:
        faults = self.faults
        if faults.scripted and faults.take("power_cut", command, stage) is not None:
            raise PowerCut(stage)

    def _device_hook(self, point: str) -> None:
        if point.startswith("before_commit"):
            self._cut_if("before_commit", self._current_command)

    def _execute(self, task: Task) -> tuple[bool, bytes]:
        command = task.command
        faults = self.faults
        timing = self.timing
        device = self.device
        self._current_command = command
        try:
            # `faults.scripted` tested here, not in `_cut_if`: two calls per task saved while none is armed.
            if faults.scripted:
                self._cut_if("before_execute", command)
            device.count_lines = bool(timing.line_seconds)  # otherwise no need to render to count
            lines_before = device.lines_printed
            ok, reply = self.dispatcher.execute(task.payload)
            if faults.scripted:
                self._cut_if("after_execute", command)
        finally:
            self._current_command = None
        if not timing.command_seconds and not timing.line_seconds:
            return ok, reply  # no timing emulation: nothing to add (the usual case)
        printed = device.lines_printed - lines_before
        seconds = timing.command_seconds + printed * timing.line_seconds
        if timing.busy_device and self.protocol == "v3":
            self._busy_seconds = seconds
        else:
            self._delay += seconds
        return ok, reply

    def _take_busy_seconds(self) -> float:
        seconds, self._busy_seconds = self._busy_seconds, 0.0
        return seconds

    def _emit(self, data: bytes, is_async: bool, command: int | None, final: bool) -> None:
        """`LinkV3.emit`/`LinkV2.emit`: a frame the link sends (see `link_v3.Emit`)."""
        faults = self.faults
        now = self.monotonic()
        if now < self._off_until:
            return  # the link dropped earlier in this chunk
        delay = 0.0
        if final:
            delay, self._delay = self._delay, 0.0
        if not faults.scripted and faults.corrupt_rate <= 0 and faults.drop_rate <= 0:
            # `faults.quiet()`, inlined (a call per frame): nothing can fire (the usual case), so skip the
            # fault lookups; an earlier stall still holds.
            emission = Emission(data, is_async, delay)
            if now < self._stall_until:
                self._held.append(emission)
            else:
                self._out.append(emission)
            return
        if not final:
            command = None
        if final and faults.take("power_cut", command, "mid_reply") is not None:
            self._out.append(Emission(data[: max(1, len(data) // 2)], is_async, delay))
            raise PowerCut("mid_reply")
        if faults.take("drop", command) is not None or faults.should_drop():
            return
        if faults.take("corrupt", command) is not None:
            data = faults.corrupt_one(data)
        data = faults.corrupt_bytes(data, faults.corrupt_rate)
        disconnect = faults.take("disconnect", command)
        if disconnect is not None:
            self.disconnects += 1
            self._out.append(Emission(data[: max(1, len(data) // 2)], is_async, delay, disconnect=True))
            self.link.reset_line()
            self._off_until = self.monotonic() + disconnect.seconds
            return
        stall = faults.take("stall", command)
        if stall is not None:
            self._stall_until = self.monotonic() + stall.seconds
        emission = Emission(data, is_async, delay)
        if self.monotonic() < self._stall_until:
            self._held.append(emission)
        else:
            self._out.append(emission)
