"""Fiscal memory: every closed fiscal document, persisted so that none is ever lost.

Storage is one JSON file, rewritten atomically on every commit: write a temporary file in the same
directory, fsync it, rename it over the old one, fsync the directory. A crash or a simulated power cut
at any moment leaves either the old file or the new one, never a torn file, so a document whose
command was executed (even if its reply never reached the host) is always there after a restart.
The device's durable state (numbering, counters, cash) is stored in the same file and the same write,
so the two can never disagree. JSON was chosen over SQLite because the file doubles as the `--dump`
output and is easy to read in a bug report; a simulator's history is small enough to rewrite.

Without a path the memory lives only in RAM (in-process tests); `reload()` then returns the last
committed snapshot, which is what a power cut of an in-memory device must see.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "kkm-bridge-atol-sim/1"


class DocumentKind:
    """Kinds of fiscal documents the simulator stores (strings, as they appear in the dump)."""

    RECEIPT = "receipt"
    SHIFT_OPEN = "shift_open"
    SHIFT_CLOSE = "shift_close"
    CASH_IN = "cash_in"
    CASH_OUT = "cash_out"

    ALL = (RECEIPT, SHIFT_OPEN, SHIFT_CLOSE, CASH_IN, CASH_OUT)


@dataclass
class FiscalDocument:
    """One closed fiscal document as stored (amounts in minor units, quantities in thousandths)."""

    number: int  # fiscal document number, continuous over the device's life
    kind: str  # DocumentKind
    date_time: str  # ISO local date-time, seconds precision
    shift_number: int
    operator: int
    registration_number: str
    factory_number: str
    seller_bin: str
    receipt_number: int | None = None  # number of the receipt within the shift (receipts only)
    receipt_type: int | None = None  # ReceiptType value (receipts only)
    lines: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, int]] = field(default_factory=list)  # [{"type": 1, "amount": 100}]
    discount: int = 0
    total: int = 0
    change: int = 0
    vat: list[dict[str, Any]] = field(default_factory=list)  # [{"tax": 1, "rate": "16", "base": .., "amount": ..}]
    cash_in_drawer: int = 0
    counters: dict[str, Any] | None = None  # shift close: the shift's counters
    offline: bool = False
    fiscal_sign: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FiscalDocument":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class FiscalMemory:
    """The documents plus the durable device state, committed together."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.documents: list[FiscalDocument] = []
        self.device: dict[str, Any] | None = None  # DurableState as a dict
        self.extra: dict[str, Any] = {}  # registration data etc. stored for information
        self._snapshot: str | None = None  # last committed file content (in-memory mode)
        if self.path is not None and self.path.exists():
            self._load_text(self.path.read_text(encoding="utf-8"))

    # -- reading -----------------------------------------------------------------------------------

    def _load_text(self, text: str) -> None:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"not a simulator state file (format {data.get('format')!r})")
        self.documents = [FiscalDocument.from_dict(d) for d in data.get("documents", [])]
        self.device = data.get("device")
        self.extra = data.get("extra", {})

    def reload(self) -> None:
        """Forget everything not committed: what the device sees after a power cut."""
        if self.path is not None and self.path.exists():
            self._load_text(self.path.read_text(encoding="utf-8"))
        elif self._snapshot is not None:
            self._load_text(self._snapshot)
        else:
            self.documents, self.device, self.extra = [], None, {}

    def get(self, number: int) -> FiscalDocument | None:
        for document in self.documents:
            if document.number == number:
                return document
        return None

    def last(self) -> FiscalDocument | None:
        return self.documents[-1] if self.documents else None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "device": copy.deepcopy(self.device),
            "extra": copy.deepcopy(self.extra),
            "documents": [d.to_dict() for d in self.documents],
        }

    # -- writing -----------------------------------------------------------------------------------

    def commit(self, device: dict[str, Any], document: FiscalDocument | None = None) -> None:
        """Append `document` (if any) and store `device` state, durably, in one atomic write."""
        documents = self.documents + ([document] if document is not None else [])
        data = {
            "format": FORMAT,
            "device": device,
            "extra": self.extra,
            "documents": [d.to_dict() for d in documents],
        }
        text = json.dumps(data, ensure_ascii=False, indent=1)
        if self.path is not None:
            atomic_write_text(self.path, text)
        self._snapshot = text
        self.documents = documents
        self.device = copy.deepcopy(device)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash leaves the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
