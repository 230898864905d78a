"""Fault injection: seeded, scriptable ways for the simulated printer to misbehave.

Each fault is a test tool for one recovery path of a driver:

- `corrupt_rate` / `corrupt_next`: flip bits in outgoing bytes (the host must ask for a resend with an
  empty frame). `corrupt_in_rate`: flip bits in incoming bytes (the device asks the host to resend).
- `drop_rate` / `drop_next`: a reply frame is never sent (the host times out, then REQs the task).
- `stall_next`: the device goes silent for N seconds before replying (slow device / busy printer).
- `disconnect_next`: half a frame is sent, then the link drops (TCP: the connection is closed; pty:
  the device ignores the line for `seconds`).
- `power_cut(point)`: the device loses power at a named point; the task buffer and any open receipt
  are lost, committed fiscal documents are not (see `POWER_CUT_POINTS`).
- `paper_out_after` / `cover_open_after`: the paper runs out, or the cover opens, after N printed
  documents (also directly: `Simulator.device.paper_present = False`, `.cover_open = True`).

Random faults use `random.Random(seed)`, so a failing run replays exactly. Scripted faults are one-shot
(or `count`-shot) and may be restricted to the reply of one command code (`command=0x4A`) and skip the
first `skip` matches. From the command line every fault is a `--fault SPEC` (see `parse_fault_spec`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: Named power-cut points: name -> (stage, command code or None for any command).
#: Stages: "before_execute" (command received, not executed), "before_commit" (executed up to the
#: fiscal-memory write, which does not happen), "after_execute" (executed and committed, reply not
#: sent), "mid_reply" (half of the reply frame sent).
POWER_CUT_POINTS: dict[str, tuple[str, int | None]] = {
    "before_execute": ("before_execute", None),
    "after_execute_before_reply": ("after_execute", None),
    "mid_reply": ("mid_reply", None),
    "before_commit": ("before_commit", None),
    "before_close_receipt": ("before_execute", 0x4A),
    "before_close_receipt_commit": ("before_commit", 0x4A),
    "after_close_receipt_before_reply": ("after_execute", 0x4A),
    "mid_close_receipt_reply": ("mid_reply", 0x4A),
    "after_open_shift_before_reply": ("after_execute", 0x9A),
    "after_z_report_before_reply": ("after_execute", 0x5A),
    "after_cash_in_before_reply": ("after_execute", 0x49),
}

FAULT_KINDS = ("drop", "corrupt", "stall", "disconnect", "power_cut")
#: Entries kept in `Faults.triggered`.
TRIGGERED_KEEP = 1000


@dataclass
class ScriptedFault:
    """One planned fault. `command` restricts it to tasks with that command code (None: any frame)."""

    kind: str
    command: int | None = None
    skip: int = 0
    count: int = 1
    seconds: float = 0.0
    stage: str | None = None  # power cuts only

    def matches(self, kind: str, command: int | None, stage: str | None = None) -> bool:
        if kind != self.kind or self.count <= 0:
            return False
        if self.stage is not None and stage != self.stage:
            return False
        return self.command is None or self.command == command


@dataclass
class Faults:
    """The fault plan of one simulator, plus the seeded random source for rate-based faults."""

    seed: int = 0
    corrupt_rate: float = 0.0
    corrupt_in_rate: float = 0.0
    drop_rate: float = 0.0
    paper_out_after: int | None = None
    cover_open_after: int | None = None
    #: How long a power cut keeps the device off (input is discarded meanwhile), in seconds.
    power_off_seconds: float = 0.0
    scripted: list[ScriptedFault] = field(default_factory=list)
    #: Log of triggered faults, for tests and for the CLI's stderr (`note()` keeps it bounded: a
    #: long-running simulator with a fault rate fires for ever).
    triggered: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- scripting API -----------------------------------------------------------------------------

    def add(self, fault: ScriptedFault) -> ScriptedFault:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        self.scripted.append(fault)
        return fault

    def drop_next(self, command: int | None = None, count: int = 1, skip: int = 0) -> ScriptedFault:
        return self.add(ScriptedFault("drop", command, skip, count))

    def corrupt_next(self, command: int | None = None, count: int = 1, skip: int = 0) -> ScriptedFault:
        return self.add(ScriptedFault("corrupt", command, skip, count))

    def stall_next(self, seconds: float, command: int | None = None, skip: int = 0) -> ScriptedFault:
        return self.add(ScriptedFault("stall", command, skip, 1, seconds))

    def disconnect_next(self, command: int | None = None, seconds: float = 0.5, skip: int = 0) -> ScriptedFault:
        return self.add(ScriptedFault("disconnect", command, skip, 1, seconds))

    def power_cut(self, point: str, command: int | None = None, skip: int = 0) -> ScriptedFault:
        if point not in POWER_CUT_POINTS:
            raise ValueError(f"unknown power-cut point {point!r}; known: {', '.join(POWER_CUT_POINTS)}")
        stage, default_command = POWER_CUT_POINTS[point]
        return self.add(ScriptedFault("power_cut", command if command is not None else default_command,
                                      skip, 1, self.power_off_seconds, stage))

    # -- used by the simulator ---------------------------------------------------------------------

    def note(self, entry: str) -> None:
        """Log a triggered fault; past `TRIGGERED_KEEP` entries the older half is dropped."""
        self.triggered.append(entry)
        if len(self.triggered) > TRIGGERED_KEEP:
            del self.triggered[: TRIGGERED_KEEP // 2]

    def quiet(self) -> bool:
        """True when no fault can fire on a reply: nothing scripted, no random drop or corruption rate.
        The simulator then skips its per-frame fault lookups (a handful per frame, ~280 per receipt).
        `Simulator._emit` has this test inlined: change both together."""
        return not self.scripted and self.corrupt_rate <= 0 and self.drop_rate <= 0

    def take(self, kind: str, command: int | None, stage: str | None = None) -> ScriptedFault | None:
        """Consume and return the first scripted fault of `kind` that fires now, if any."""
        if not self.scripted:
            return None
        for fault in self.scripted:
            if not fault.matches(kind, command, stage):
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            fault.count -= 1
            if fault.count <= 0:
                self.scripted.remove(fault)
            self.note(f"{kind}" + (f":{stage}" if stage else "") +
                      (f" cmd={command:02X}" if command is not None else ""))
            return fault
        return None

    def corrupt_bytes(self, data: bytes, rate: float) -> bytes:
        """Flip one random bit in each byte selected with probability `rate`."""
        if rate <= 0 or not data:
            return data
        out = bytearray(data)
        hit = False
        for i in range(len(out)):
            if self.rng.random() < rate:
                out[i] ^= 1 << self.rng.randrange(8)
                hit = True
        if hit:
            self.note("corrupt_rate")
        return bytes(out)

    def corrupt_one(self, data: bytes) -> bytes:
        """Flip one bit in a byte after the frame header (so the CRC check fails)."""
        if len(data) < 5:
            return bytes(b ^ 0x01 for b in data)
        out = bytearray(data)
        index = self.rng.randrange(4, len(out))
        out[index] ^= 1 << self.rng.randrange(8)
        if out[index] in (0xFE,):  # never forge a frame start: keep it a plain corruption
            out[index] ^= 0x01
        return bytes(out)

    def should_drop(self) -> bool:
        if self.drop_rate > 0 and self.rng.random() < self.drop_rate:
            self.note("drop_rate")
            return True
        return False


def parse_fault_spec(faults: Faults, spec: str) -> None:
    """Apply one CLI fault spec to `faults`.

    Forms (command codes in hex, `cmd=` optional everywhere a reply is involved):
      corrupt-rate:0.01          corrupt-in-rate:0.01        drop-rate:0.05
      drop[:cmd=4A][,count=2][,skip=1]       corrupt[:cmd=4A]
      stall:seconds=3[,cmd=4A]               disconnect[:cmd=4A][,seconds=1]
      power-cut:after_close_receipt_before_reply[,skip=0]
      paper-out-after:3          cover-open-after:2          power-off-seconds:1.5
    """
    name, _, rest = spec.partition(":")
    name = name.strip().replace("_", "-")
    if name in ("corrupt-rate", "corrupt-in-rate", "drop-rate", "power-off-seconds"):
        setattr(faults, name.replace("-", "_"), float(rest))
        return
    if name in ("paper-out-after", "cover-open-after"):
        setattr(faults, name.replace("-", "_"), int(rest))
        return
    options: dict[str, str] = {}
    positional: list[str] = []
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if eq:
            options[key.strip()] = value.strip()
        else:
            positional.append(part)
    command = int(options["cmd"], 16) if "cmd" in options else None
    skip = int(options.get("skip", 0))
    count = int(options.get("count", 1))
    if name == "drop":
        faults.drop_next(command, count, skip)
    elif name == "corrupt":
        faults.corrupt_next(command, count, skip)
    elif name == "stall":
        faults.stall_next(float(options.get("seconds", positional[0] if positional else 1.0)), command, skip)
    elif name == "disconnect":
        faults.disconnect_next(command, float(options.get("seconds", 0.5)), skip)
    elif name == "power-cut":
        if not positional:
            raise ValueError("power-cut needs a point name, e.g. power-cut:after_close_receipt_before_reply")
        faults.power_cut(positional[0], command, skip)
    else:
        raise ValueError(f"unknown fault {spec!r}")
