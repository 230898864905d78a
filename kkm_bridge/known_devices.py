"""Which USB ids mean "this is a fiscal printer": data, not code.

`kkm-bridge devices` uses this list to mark candidates, and udev rules can be generated from it.
Every entry says how sure we are and where the ids come from, because a wrong id here sends a
user chasing the wrong device.

The built-in list is EMPTY on purpose. The project's references (shared/reference/
atol-protocol.md, prior-art.md) contain no USB vendor or product ids for ATOL devices, so any
id we shipped would be a guess presented as fact. Users add the ids they see on their own
hardware (`kkm-bridge devices` prints VID:PID for every port and device) in a file:

    # known-devices.toml
    [[device]]
    vid = "1a2b"            # hex, as lsusb prints it
    pid = "3c4d"            # optional: omit to match every product of the vendor
    name = "ATOL 30F (my shop)"
    confidence = "confirmed"   # confirmed | unconfirmed (default: unconfirmed)
    source = "lsusb on the till, 2026-11-20"

JSON with the same fields (a list, or {"device": [...]}) works too. Load it with
`load_known_devices(path)`; a config loader holding the entries already can call
`parse_known_devices(entries)`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Confidence = Literal["confirmed", "unconfirmed"]
CONFIDENCES: tuple[str, ...] = ("confirmed", "unconfirmed")


@dataclass(frozen=True)
class KnownDevice:
    """A USB id that identifies a fiscal printer (or a vendor of them, when `pid` is None)."""

    vid: int
    pid: int | None
    name: str
    confidence: Confidence
    source: str

    def matches(self, vid: int | None, pid: int | None) -> bool:
        return vid == self.vid and (self.pid is None or pid == self.pid)

    def ids(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" if self.pid is not None else f"{self.vid:04x}:*"

    def to_json(self) -> dict[str, Any]:
        return {
            "vid": f"{self.vid:04x}",
            "pid": None if self.pid is None else f"{self.pid:04x}",
            "name": self.name,
            "confidence": self.confidence,
            "source": self.source,
        }


# Deliberately empty: see the module docstring. Add an entry here only with a citable source,
# and mark it "unconfirmed" unless the ids were checked against real hardware.
BUILTIN_KNOWN_DEVICES: tuple[KnownDevice, ...] = ()


class KnownDevicesError(ValueError):
    """A known-devices file or entry is malformed; the message names the entry and field."""


def _parse_id(value: Any, field: str, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower().removeprefix("0x")
        try:
            number = int(text, 16)
        except ValueError:
            raise KnownDevicesError(f"{where}: {field}={value!r} is not a hex USB id") from None
    else:
        raise KnownDevicesError(f"{where}: {field} must be a hex string like \"1a2b\"")
    if not 0 <= number <= 0xFFFF:
        raise KnownDevicesError(f"{where}: {field}={value!r} is out of range 0000..ffff")
    return number


def parse_known_devices(entries: Iterable[Mapping[str, Any]], *, origin: str = "config") -> list[KnownDevice]:
    """Validate user entries; `origin` (e.g. the file name) becomes the default `source`."""
    devices: list[KnownDevice] = []
    for index, entry in enumerate(entries):
        where = f"{origin}: device #{index + 1}"
        if not isinstance(entry, Mapping):
            raise KnownDevicesError(f"{where}: expected a table with vid, pid, name")
        unknown = set(entry) - {"vid", "pid", "name", "confidence", "source"}
        if unknown:
            raise KnownDevicesError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        if "vid" not in entry:
            raise KnownDevicesError(f"{where}: vid is required")
        vid = _parse_id(entry["vid"], "vid", where)
        pid = None if entry.get("pid") in (None, "", "*") else _parse_id(entry["pid"], "pid", where)
        confidence = str(entry.get("confidence", "unconfirmed"))
        if confidence not in CONFIDENCES:
            raise KnownDevicesError(f"{where}: confidence must be one of {', '.join(CONFIDENCES)}")
        name = str(entry.get("name") or f"USB {vid:04x}:{'*' if pid is None else f'{pid:04x}'}")
        source = str(entry.get("source") or origin)
        devices.append(KnownDevice(vid, pid, name, confidence, source))  # type: ignore[arg-type]
    return devices


def load_known_devices(path: str | Path | None = None) -> list[KnownDevice]:
    """The built-in list plus, if given, the entries of a TOML or JSON file (those come first)."""
    extra: list[KnownDevice] = []
    if path is not None:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise KnownDevicesError(f"cannot read known-devices file {file}: {exc.strerror}") from exc
        try:
            data: Any = json.loads(text) if file.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise KnownDevicesError(f"{file}: {exc}") from exc
        entries = data.get("device", []) if isinstance(data, dict) else data
        if not isinstance(entries, list):
            raise KnownDevicesError(f"{file}: expected a list of devices (TOML: [[device]] tables)")
        extra = parse_known_devices(entries, origin=str(file))
    return extra + list(BUILTIN_KNOWN_DEVICES)


def find_known(vid: int | None, pid: int | None, known: Sequence[KnownDevice]) -> KnownDevice | None:
    """The first entry matching these ids (user entries win over built-in ones), or None."""
    if vid is None:
        return None
    for device in known:
        if device.matches(vid, pid):
            return device
    return None
