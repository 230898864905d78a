"""Fiscal memory: every closed fiscal document, persisted so that none is ever lost.

Storage is one SQLite file (WAL, `synchronous=FULL`): each commit is one transaction that inserts the
document and replaces the device's durable state (numbering, counters, cash), so the two can never
disagree, and a crash or a simulated power cut at any moment leaves either the state before the commit
or the state after it. WAL with `synchronous=FULL` syncs the log at every commit (one fsync per
document; the rollback journal took several), so a committed transaction survives a power loss. While
the file is open it has `-wal` and `-shm` companions (a crash leaves them behind: the next open
recovers from them, so copy all three of a running or crashed simulator); the last connection to close
checkpoints the log and removes them, leaving the one file. The simulator commits before it sends the command's reply, so a
document whose reply never reached the host is still there after a restart. SQLite rather than a
rewritten JSON file: a commit costs the same with ten documents or a hundred thousand, and two
processes opened on one file are serialised instead of overwriting each other. `--dump` prints the
whole memory as JSON.

Deferred sync (`defer_sync`, used by the in-process `sim://` transport only): a commit then runs with
`synchronous=NORMAL`, which writes the log without waiting for the disk, and marks the memory
`unsynced`; `sync()` (safe to call from another thread: it only fsyncs the log file) makes every commit
so far durable. The transport calls it off the event loop and holds the device's replies until it
returns, so a reply still never reports a document the disk might lose, while the daemon's event loop is
not stopped for the length of an fsync (which, beside the journal's own fsyncs, averaged ~1.6 ms per
receipt). Everything else (tests' `feed()`, the TCP/pty servers) commits with `synchronous=FULL`.

The documents are *not* also kept in Python objects: a simulator inside a long-running daemon would
otherwise grow by a few kilobytes per receipt for ever. What stays in RAM is small and bounded: the
durable device state, the registration data, a few counters (document count, last number, the
offline documents' count and first number for `A4 20`) and an LRU cache of the last `cache_size`
decoded documents (the driver reads back the document it has just closed, `A4 45`/`A4 46`). Everything
else (`get()` of an old document, `documents`, `--dump`, `--render`) is read from SQLite on demand.

Without a path (in-process tests, `state = ""` in the daemon's config) the store is an in-memory
SQLite database with the same schema and the same bounded RAM-side state: its size is the SQLite data
itself (a few hundred bytes per document, not the several kilobytes of Python objects), and since it
holds only committed transactions, `reload()` after a simulated power cut sees exactly the last
committed state, as a file does. The daemon's own default (no config) is a state file in the user's
data directory, not this.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
from dataclasses import dataclass, field
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMAT = "kkm-bridge-atol-sim/1"
#: Decoded documents kept in RAM (most recently used); older ones are read from SQLite again.
CACHE_SIZE = 32


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
        """The same dict as `dataclasses.asdict` (field order, fresh containers), written out: it runs
        for the fiscal sign and the stored row of every document."""
        return {
            "number": self.number,
            "kind": self.kind,
            "date_time": self.date_time,
            "shift_number": self.shift_number,
            "operator": self.operator,
            "registration_number": self.registration_number,
            "factory_number": self.factory_number,
            "seller_bin": self.seller_bin,
            "receipt_number": self.receipt_number,
            "receipt_type": self.receipt_type,
            "lines": [dict(line) for line in self.lines],
            "payments": [dict(payment) for payment in self.payments],
            "discount": self.discount,
            "total": self.total,
            "change": self.change,
            "vat": [dict(group) for group in self.vat],
            "cash_in_drawer": self.cash_in_drawer,
            "counters": copy.deepcopy(self.counters) if self.counters is not None else None,
            "offline": self.offline,
            "fiscal_sign": self.fiscal_sign,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FiscalDocument":
        known = cls.__dataclass_fields__  # a dict: `in` tests its keys (no set built per document)
        return cls(**{k: v for k, v in data.items() if k in known})


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (number INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL);
"""


def _put_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    """Set one `meta` row in place. `INSERT OR REPLACE` deletes and re-inserts the row, which rewrites
    the key's index page too: a third page in the log at every commit instead of two."""
    if db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key)).rowcount == 0:
        db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))


def _decode(body: str) -> FiscalDocument:
    return FiscalDocument.from_dict(json.loads(body))


STATE_FILE_MODE = 0o600
#: How `sync()` flushes the log: what SQLite itself calls for it on Linux (`synchronous=FULL`), file
#: data and size without the timestamps, which spares a filesystem-journal commit once the log has
#: reached its working size; fsync where there is no fdatasync.
_datasync = getattr(os, "fdatasync", os.fsync)


def _owner_only(path: Path) -> None:
    """Create ``path`` with mode 0600, or tighten an existing one: the state carries the signing key."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, STATE_FILE_MODE)
    try:
        os.fchmod(fd, STATE_FILE_MODE)
    finally:
        os.close(fd)


class FiscalMemory:
    """The documents (in SQLite) plus the durable device state, committed together."""

    def __init__(self, path: str | os.PathLike[str] | None = None, cache_size: int = CACHE_SIZE) -> None:
        self.path = Path(path) if path is not None else None
        self.cache_size = max(0, cache_size)
        self.device: dict[str, Any] | None = None  # DurableState as a dict
        self.extra: dict[str, Any] = {}  # registration data etc.
        self._cache: OrderedDict[int, FiscalDocument] = OrderedDict()
        self._count = 0
        self._last_number: int | None = None
        self._unsent_count = 0
        self._first_unsent: int | None = None
        self._extra_json: str | None = None  # `extra` as last stored: an unchanged one is not rewritten
        #: Set by a caller that will `sync()` before reporting a commit (see the module docstring).
        self.defer_sync = False
        #: A deferred commit has not been synced yet.
        self.unsynced = False
        self._deferred_mode = False  # the connection is at synchronous=NORMAL
        self._db: sqlite3.Connection | None = self._open(self.path)
        self._load_db()

    # -- storage -----------------------------------------------------------------------------------

    @staticmethod
    def _open(path: Path | None) -> sqlite3.Connection:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _owner_only(path)  # the state holds the fiscal-sign key: never readable by others
        # check_same_thread=False: the servers may run on a thread other than the creator's; every
        # access is serialised by the simulator (one event loop, one lock).
        target = str(path) if path is not None else ":memory:"
        db = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=10)
        try:
            if path is not None:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                for sidecar in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                    if sidecar.exists():
                        _owner_only(sidecar)
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

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            if self.path is None:  # pragma: no cover - close() keeps an in-memory store open
                raise ValueError("fiscal memory is closed")
            self._db = self._open(self.path)  # read after close(): reopen on demand
            self._deferred_mode = False
        return self._db

    def _load_db(self) -> None:
        db = self._conn()
        rows = dict(db.execute("SELECT key, value FROM meta").fetchall())
        meta = {key: json.loads(value) for key, value in rows.items()}
        self._extra_json = rows.get("extra")
        self.device = meta.get("device")
        self.extra = meta.get("extra") or {}
        self._count, self._last_number = db.execute("SELECT count(*), max(number) FROM documents").fetchone()
        self._unsent_count, self._first_unsent = self._count_unsent(db)
        self._cache.clear()

    @staticmethod
    def _count_unsent(db: sqlite3.Connection) -> tuple[int, int | None]:
        """(count, first number) of the documents made offline: one pass at open, then kept up to date."""
        try:
            row = db.execute(
                "SELECT count(*), min(number) FROM documents WHERE json_extract(body, '$.offline')").fetchone()
            return int(row[0]), row[1]
        except sqlite3.OperationalError:  # pragma: no cover - an SQLite built without JSON functions
            count, first = 0, None
            for number, body in db.execute("SELECT number, body FROM documents ORDER BY number"):
                if json.loads(body).get("offline"):
                    count, first = count + 1, first if first is not None else number
            return count, first

    def close(self) -> None:
        """Release the state file. An in-memory store stays open (closing it would lose it); it goes
        with this object."""
        if self._db is not None and self.path is not None:
            self._db.close()
            self._db = None

    # -- reading -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Forget everything not committed: what the device sees after a power cut."""
        self._load_db()

    def __len__(self) -> int:
        return self._count

    def get(self, number: int) -> FiscalDocument | None:
        """The document numbered `number` (from the cache or the store); do not modify it."""
        document = self._cache.get(number)
        if document is not None:
            self._cache.move_to_end(number)
            return document
        if self._last_number is None or number > self._last_number:
            # Not committed (yet): the simulator is the store's one writer and knows its last number.
            # Saves a query per receipt: a driver asks for the next document before it closes one.
            return None
        row = self._conn().execute("SELECT body FROM documents WHERE number = ?", (number,)).fetchone()
        if row is None:
            return None
        document = _decode(row[0])
        self._remember(document)
        return document

    def last(self) -> FiscalDocument | None:
        return self.get(self._last_number) if self._last_number is not None else None

    def unsent(self) -> tuple[int, FiscalDocument | None]:
        """(count, first) of the documents made offline, which the OFD never received (`A4 20`)."""
        first = self.get(self._first_unsent) if self._first_unsent is not None else None
        return self._unsent_count, first

    def iter_documents(self, offline_only: bool = False, batch: int = 256) -> Iterator[FiscalDocument]:
        """Every committed document, oldest first, read from the store in batches (not cached)."""
        where = " WHERE json_extract(body, '$.offline')" if offline_only else ""
        cursor = self._conn().execute(f"SELECT body FROM documents{where} ORDER BY number")
        while rows := cursor.fetchmany(batch):
            for (body,) in rows:
                yield _decode(body)

    @property
    def documents(self) -> list[FiscalDocument]:
        """Every committed document, oldest first: a fresh list read from the store (tests, `--dump`).
        O(documents); nothing on a command's path uses it."""
        return list(self.iter_documents())

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "device": json.loads(json.dumps(self.device)),
            "extra": json.loads(json.dumps(self.extra)),
            "documents": [d.to_dict() for d in self.iter_documents()],
        }

    def sync(self) -> None:
        """Make every commit so far durable: sync the write-ahead log, as `synchronous=FULL` does at
        each commit. Touches only the file (never the connection), so it may run on another thread
        while the simulator goes on; an in-memory store has nothing to sync."""
        if self.path is None:
            return
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            fd = os.open(wal, os.O_RDONLY)
        except FileNotFoundError:
            # No log: the connection was closed, and its last checkpoint synced the database into
            # which it moved the log; sync the database anyway, it costs nothing here.
            fd = os.open(self.path, os.O_RDONLY)
        try:
            _datasync(fd)
        finally:
            os.close(fd)

    def _remember(self, document: FiscalDocument) -> None:
        if not self.cache_size:
            return
        self._cache[document.number] = document
        self._cache.move_to_end(document.number)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    # -- writing -----------------------------------------------------------------------------------

    def commit(self, device: dict[str, Any], document: FiscalDocument | None = None) -> None:
        """Append `document` (if any) and store `device` state, durably, in one transaction."""
        db = self._conn()
        deferred = self.defer_sync and self.path is not None
        if deferred != self._deferred_mode:
            db.execute("PRAGMA synchronous=NORMAL" if deferred else "PRAGMA synchronous=FULL")
            self._deferred_mode = deferred
        body = json.dumps(document.to_dict(), ensure_ascii=False, sort_keys=True) if document is not None else None
        device_json = json.dumps(device)
        extra_json = json.dumps(self.extra, ensure_ascii=False)
        db.execute("BEGIN IMMEDIATE")
        try:
            if document is not None:
                db.execute("INSERT INTO documents VALUES (?, ?, ?)", (document.number, document.kind, body))
            _put_meta(db, "device", device_json)
            if extra_json != self._extra_json:  # the registration data rarely changes: one statement less
                _put_meta(db, "extra", extra_json)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._extra_json = extra_json
        if deferred:
            self.unsynced = True
        # Committed: update the RAM side from what was stored (a private copy, as a reload would give).
        self.device = json.loads(device_json)
        if document is not None and body is not None:
            stored = _decode(body)
            self._count += 1
            if self._last_number is None or stored.number > self._last_number:
                self._last_number = stored.number
            if stored.offline:
                self._unsent_count += 1
                if self._first_unsent is None or stored.number < self._first_unsent:
                    self._first_unsent = stored.number
            self._remember(stored)
