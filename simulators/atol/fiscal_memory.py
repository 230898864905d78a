"""Fiscal memory: every closed fiscal document, persisted so that none is ever lost.

Storage is one SQLite file (rollback journal, `synchronous=FULL`): each commit is one transaction that
inserts the document and replaces the device's durable state (numbering, counters, cash), so the two
can never disagree, and a crash or a simulated power cut at any moment leaves either the state before
the commit or the state after it. The simulator commits before it sends the command's reply, so a
document whose reply never reached the host is still there after a restart. SQLite rather than a
rewritten JSON file: a commit costs the same with ten documents or a hundred thousand, and two
processes opened on one file are serialised instead of overwriting each other. `--dump` prints the
whole memory as JSON.

Without a path the memory lives only in RAM (in-process tests); `reload()` then returns the last
committed snapshot, which is what a power cut of an in-memory device must see.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (number INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL);
"""


class FiscalMemory:
    """The documents plus the durable device state, committed together."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.documents: list[FiscalDocument] = []
        self.device: dict[str, Any] | None = None  # DurableState as a dict
        self.extra: dict[str, Any] = {}  # registration data etc.
        self._by_number: dict[int, FiscalDocument] = {}
        self._snapshot: tuple[list[FiscalDocument], dict[str, Any] | None, dict[str, Any]] | None = None
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._db = self._open(self.path)
            self._load_db()

    # -- storage -----------------------------------------------------------------------------------

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: the servers may run on a thread other than the creator's; every
        # access is serialised by the simulator (one event loop, one lock).
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is None:
                db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (json.dumps(FORMAT),))
            elif json.loads(row[0]) != FORMAT:
                raise ValueError(f"{path}: not a simulator state file (format {row[0]})")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise ValueError(f"{path}: not a simulator state file ({exc})") from None
        except BaseException:
            db.close()
            raise
        return db

    def _load_db(self) -> None:
        assert self._db is not None
        meta = {key: json.loads(value) for key, value in self._db.execute("SELECT key, value FROM meta")}
        rows = self._db.execute("SELECT body FROM documents ORDER BY number").fetchall()
        documents = [FiscalDocument.from_dict(json.loads(body)) for (body,) in rows]
        self._set(documents, meta.get("device"), meta.get("extra") or {})

    def _set(self, documents: list[FiscalDocument], device: dict[str, Any] | None, extra: dict[str, Any]) -> None:
        self.documents = list(documents)
        self._by_number = {d.number: d for d in self.documents}
        self.device = copy.deepcopy(device)
        self.extra = copy.deepcopy(extra)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- reading -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Forget everything not committed: what the device sees after a power cut."""
        if self._db is not None:
            self._load_db()
        elif self._snapshot is not None:
            self._set(*self._snapshot)
        else:
            self._set([], None, {})

    def get(self, number: int) -> FiscalDocument | None:
        return self._by_number.get(number)

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
        """Append `document` (if any) and store `device` state, durably, in one transaction."""
        if self._db is not None:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                if document is not None:
                    body = json.dumps(document.to_dict(), ensure_ascii=False, sort_keys=True)
                    db.execute("INSERT INTO documents VALUES (?, ?, ?)", (document.number, document.kind, body))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('device', ?)", (json.dumps(device),))
                db.execute("INSERT OR REPLACE INTO meta VALUES ('extra', ?)",
                           (json.dumps(self.extra, ensure_ascii=False),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if document is not None:
            self.documents.append(copy.deepcopy(document))
            self._by_number[document.number] = self.documents[-1]
        self.device = copy.deepcopy(device)
        if self._db is None:  # committed documents are never modified, so a shallow copy is a snapshot
            self._snapshot = (list(self.documents), self.device, copy.deepcopy(self.extra))
