"""The journal store: one SQLite file shared by the device workers and the HTTP API.

Durability: the file is in WAL mode with ``synchronous=FULL``, and every write is one ``BEGIN IMMEDIATE`` ...
``COMMIT`` transaction, so when a method that changes a job returns, the change is fsync'd. That is what
makes "record what is about to happen, then touch the device" meaningful after a power cut.

Concurrency: one ``sqlite3`` connection per ``Journal`` object, guarded by a lock, so one object may be used
from many threads. Several ``Journal`` objects (threads or processes) may open the same file: ``BEGIN
IMMEDIATE`` takes SQLite's write lock before reading, so check-then-insert (idempotency) and claim (queue)
are atomic across all of them; ``busy_timeout`` makes the others wait instead of failing.

Async callers: each call is one small transaction (well under a millisecond plus one fsync). Call it directly
from a coroutine when latency is not critical, or use ``AsyncJournal`` (``asyncio.to_thread``) so the fsync
does not stall the event loop.

Logging never includes request bodies, results or idempotency keys (they can carry a buyer's phone, e-mail or
IIN); job id, kind, device and state are logged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .canonical import canonical_text, canonicalize, from_json_text, to_json_text
from .errors import DuplicateConflict, InvalidTransition, JobNotFound, JournalError
from .models import (
    ALLOWED_TRANSITIONS,
    OPERATOR_FAILED,
    AcceptOutcome,
    Job,
    JobNote,
    JobResult,
    JobState,
    NewJob,
    PreflightFacts,
    Priority,
    validate_job_id,
    validate_kind,
)
from .refunds import REFUND_OF, check_refund, record_claim, refund_claim
from .schema import migrate

__all__ = ["Journal", "FILE_MODE", "DEFAULT_BUSY_TIMEOUT_MS", "MAX_LIST_LIMIT"]

log = logging.getLogger("kkm_bridge.journal")

FILE_MODE = 0o600
DIR_MODE = 0o700
DEFAULT_BUSY_TIMEOUT_MS = 10_000
MAX_LIST_LIMIT = 1000
_MAX_TEXT = 256  # idempotency keys, order ids, device ids, scopes, error codes
_MAX_MESSAGE = 2000

_COLUMNS = (
    "seq, job_id, kind, device_id, scope, priority, idempotency_key, order_id, body_hash, request_json, state, "
    "attempts, deadline_ms, preflight_doc_number, preflight_shift_number, preflight_receipt_open, "
    "preflight_shift_open, preflight_json, preflight_ms, result_json, shift_number, document_number, "
    "fiscal_sign, error_code, error_message, created_ms, updated_ms, started_ms, finished_ms"
)
_COLUMN_NAMES = tuple(name.strip() for name in _COLUMNS.split(","))


def _ms_to_dt(ms: int | None) -> datetime | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _dt_to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("datetimes passed to the journal must be timezone-aware")
    return int(value.timestamp() * 1000)


def _opt_bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _opt_int(value: Any, name: str) -> int | None:
    """Result fields copied to indexed columns: accept int or a string of digits, ignore anything else."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    log.warning("journal: result field %s is not an integer; not indexed", name)
    return None


def _check_text(value: str | None, name: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise ValueError(f"{name} must be a non-empty string of at most {_MAX_TEXT} characters")
    return value


def _secure_file(path: Path) -> None:
    """Create ``path`` with mode 0600 before SQLite opens it, or tighten an existing file to 0600.

    SQLite creates the -wal and -shm files with the main file's permissions, so getting the main file right
    first matters; ``_secure_sidecars`` re-checks them after opening anyway.
    """
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    existed = path.exists()
    fd = os.open(path, flags, FILE_MODE)
    try:
        mode = os.fstat(fd).st_mode & 0o777
        if mode != FILE_MODE:
            if existed:
                log.warning("journal: tightening permissions of %s from %o to %o", path, mode, FILE_MODE)
            os.chmod(path, FILE_MODE)
    finally:
        os.close(fd)
    if not existed:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the new file's directory entry durable (a fresh journal must survive a power cut too)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _secure_sidecars(path: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        try:
            mode = os.stat(side).st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode != FILE_MODE:
            log.warning("journal: tightening permissions of %s from %o to %o", side, mode, FILE_MODE)
            os.chmod(side, FILE_MODE)


def _preflight_columns(facts: PreflightFacts, now: int) -> dict[str, Any]:
    """The ``jobs`` columns that hold pre-flight facts."""
    return {
        "preflight_doc_number": facts.last_document_number,
        "preflight_shift_number": facts.shift_number,
        "preflight_receipt_open": None if facts.receipt_open is None else int(facts.receipt_open),
        "preflight_shift_open": None if facts.shift_open is None else int(facts.shift_open),
        "preflight_json": to_json_text(dict(facts.extra)) if facts.extra else None,
        "preflight_ms": now,
    }


class Journal:
    """The durable job journal. Create with ``Journal.open(path)``; close with ``close()`` or ``with``."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], datetime] | None) -> None:
        self._conn = conn
        self._path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        clock: Callable[[], datetime] | None = None,
    ) -> Journal:
        """Open (creating if needed) the journal file and migrate its schema.

        ``clock`` returns the current time as an aware datetime; tests inject one, production uses the system
        clock. The parent directory is created with mode 0700 if missing.
        """
        file_path = Path(path)
        _secure_file(file_path)
        conn = sqlite3.connect(
            str(file_path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"could not enable WAL mode on {file_path} (got {mode!r})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            version = migrate(conn)
            _secure_sidecars(file_path)
        except BaseException:
            conn.close()
            raise
        log.info("journal: opened %s (schema version %d)", file_path, version)
        return cls(conn, file_path, clock)

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pragma(self, name: str) -> Any:
        """Read a PRAGMA's current value on this connection (for health checks and tests)."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"bad pragma name {name!r}")
        with self._lock:
            self._check_open()
            row = self._conn.execute(f"PRAGMA {name}").fetchone()
        return None if row is None else row[0]

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("journal is closed")

    def _now_ms(self) -> int:
        if self._clock is None:
            return time.time_ns() // 1_000_000
        return _dt_to_ms(self._clock())

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction. ``BEGIN IMMEDIATE`` takes the write lock up front so reads inside the
        transaction cannot be invalidated by another connection (no check-then-insert race).

        ``durable=False``: commit at ``synchronous=NORMAL`` (written to the WAL, not yet fsync'd). Only for
        a write whose durability may wait for the next durable commit on this file: WAL frames are
        appended in order, so that commit's fsync makes this one durable too (see ``accept``)."""
        with self._lock:
            self._check_open()
            if not durable:
                self._conn.execute("PRAGMA synchronous = NORMAL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                else:
                    self._conn.execute("COMMIT")
            finally:
                if not durable:
                    self._conn.execute("PRAGMA synchronous = FULL")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            self._check_open()
            return self._conn.execute(sql, tuple(params)).fetchall()

    @staticmethod
    def _row_to_job(row: sqlite3.Row | Mapping[str, Any], request: dict[str, Any] | None = None) -> Job:
        """A ``Job`` from a row (or a dict of the same columns). ``request``: the row's request already
        parsed (by the caller, from the same ``request_json``), saving a ``json.loads`` of the body."""
        preflight = None
        if row["preflight_ms"] is not None:
            preflight = PreflightFacts(
                last_document_number=row["preflight_doc_number"],
                shift_number=row["preflight_shift_number"],
                receipt_open=_opt_bool(row["preflight_receipt_open"]),
                shift_open=_opt_bool(row["preflight_shift_open"]),
                extra=from_json_text(row["preflight_json"]) or {},
            )
        created = _ms_to_dt(row["created_ms"])
        updated = _ms_to_dt(row["updated_ms"])
        assert created is not None and updated is not None
        return Job(
            job_id=row["job_id"],
            seq=row["seq"],
            kind=row["kind"],
            device_id=row["device_id"],
            scope=row["scope"],
            priority=Priority(row["priority"]),
            idempotency_key=row["idempotency_key"],
            order_id=row["order_id"],
            body_hash=row["body_hash"],
            request=from_json_text(row["request_json"]) if request is None else request,
            state=JobState(row["state"]),
            attempts=row["attempts"],
            deadline=_ms_to_dt(row["deadline_ms"]),
            preflight=preflight,
            preflight_at=_ms_to_dt(row["preflight_ms"]),
            result=from_json_text(row["result_json"]),
            error_code=row["error_code"],
            error_message=row["error_message"],
            shift_number=row["shift_number"],
            document_number=row["document_number"],
            fiscal_sign=row["fiscal_sign"],
            created_at=created,
            updated_at=updated,
            started_at=_ms_to_dt(row["started_ms"]),
            finished_at=_ms_to_dt(row["finished_ms"]),
        )

    @staticmethod
    def _fetch(conn: sqlite3.Connection, where: str, params: Iterable[Any]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE {where}", tuple(params)).fetchone()
        return row

    def _transition(
        self,
        job_id: str,
        to_state: JobState,
        sets: Mapping[str, Any],
        *,
        conn: sqlite3.Connection,
        now: int,
        row: sqlite3.Row | None = None,
        request: dict[str, Any] | None = None,
    ) -> Job:
        """Move a job to ``to_state`` if the state machine allows it; ``sets`` are extra columns to write.

        ``row``: the job's full row, if the caller read it in this transaction already (with ``request``, its
        parsed body). The job returned is that row with ``sets`` applied: under the write lock nothing else
        can change it, so reading it back after the UPDATE would only cost a query and a JSON parse.
        """
        if row is None:
            row = self._fetch(conn, "job_id = ?", (job_id,))
            if row is None:
                raise JobNotFound(job_id)
        from_value = row["state"]
        from_state = JobState(from_value)
        if to_state not in ALLOWED_TRANSITIONS[from_state]:
            log.error(
                "journal: refused transition %s -> %s for job %s", from_state, to_state, job_id,
                extra={"job_id": job_id, "device_id": row["device_id"]},
            )
            raise InvalidTransition(job_id, from_state.value, to_state.value)
        columns = {"state": to_state.value, "updated_ms": now, **sets}
        if columns.get("attempts") is _NEXT_ATTEMPT:
            columns["attempts"] = row["attempts"] + 1
        cursor = conn.execute(
            f"UPDATE jobs SET {', '.join(f'{name} = ?' for name in columns)} WHERE seq = ? AND state = ?",
            (*columns.values(), row["seq"], from_value),
        )
        if cursor.rowcount != 1:  # pragma: no cover - impossible under the write lock
            raise JournalError(f"job {job_id!r} changed concurrently")
        updated = dict(zip(_COLUMN_NAMES, row))
        updated.update(columns)
        level = logging.DEBUG if to_state in _ROUTINE else logging.INFO
        if log.isEnabledFor(level):
            log.log(
                level, "journal: job %s %s -> %s", job_id, from_state, to_state,
                extra={"job_id": job_id, "device_id": row["device_id"], "state": to_state.value},
            )
        return self._row_to_job(updated, request)

    # ------------------------------------------------------------------ writes

    def accept(self, job: NewJob, *, durable: bool = True) -> AcceptOutcome:
        """Record a new request, or return the job that already owns its idempotency key / order id.

        In one transaction: if a job with the same ``(scope, idempotency_key)`` or ``(scope, kind, order_id)``
        exists and is the same request (same kind, device and body hash) it is returned with
        ``replay=True``; if it is a different request, ``DuplicateConflict`` is raised and nothing is written.
        Otherwise the job is inserted as ``accepted`` and committed (fsync'd) before this returns.

        ``durable=False``: committed without its own fsync (``synchronous=NORMAL`` for this transaction), for a
        caller that tells nobody about the job before it has finished (a synchronous HTTP request). Nothing is
        lost that matters: the job's claim, before anything reaches the device, is a durable commit of the same
        write-ahead log, and that fsync covers every record appended before it. A crash of the machine before
        the claim can lose the record of a job that never reached the device and whose client got no answer.
        A process crash loses nothing (the record is in the OS's page cache).

        A refund (``sell_return``/``buy_return`` with an ``original``) must fit in what is left of its
        original after the other refunds of it that count (see ``refunds``); if it does not,
        ``RefundExceedsOriginal`` is raised and nothing is written. The check and the insert are one
        transaction, so two refunds of one sale cannot both take its last part.
        """
        kind = validate_kind(str(job.kind))
        device_id = _check_text(job.device_id, "device_id", required=True)
        key = _check_text(job.idempotency_key, "idempotency_key")
        order_id = _check_text(job.order_id, "order_id")
        scope = _check_text(job.scope, "scope") or device_id
        job_id = validate_job_id(job.job_id) if job.job_id is not None else f"job_{uuid.uuid4().hex}"
        if not isinstance(job.request, Mapping):
            raise TypeError("request must be a JSON object (a mapping)")
        priority = int(Priority(job.priority))
        request = canonicalize(job.request)
        request_json = canonical_text(request)
        digest = hashlib.sha256(request_json.encode("utf-8")).hexdigest()
        deadline_ms = _dt_to_ms(job.deadline) if job.deadline is not None else None
        context = {"job_id": job_id, "device_id": device_id}
        # Worked out before taking the write lock: it parses the refund's body (only refunds have one).
        claim = refund_claim(kind, request) if kind in REFUND_OF else None

        with self._write(durable=durable) as conn:
            now = self._now_ms()
            if claim is not None:
                # A refund's replay must be found before its limit is checked: the refund itself counts.
                existing = self._existing(conn, scope, key, order_id, kind, device_id, digest, job_id)
                if existing is not None:
                    return existing
            original_key = check_refund(conn, claim, scope) if claim is not None else None
            try:
                cursor = conn.execute(
                    "INSERT INTO jobs (job_id, kind, device_id, scope, priority, idempotency_key, order_id,"
                    " body_hash, request_json, state, attempts, deadline_ms, created_ms, updated_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
                    (job_id, kind, device_id, scope, priority, key, order_id, digest, request_json,
                     JobState.ACCEPTED.value, deadline_ms, now, now),
                )
            except sqlite3.IntegrityError:
                # The UNIQUE indexes (key, order id, job id) answer "is this new?" for the common case, so no
                # SELECT runs before every insert; only a conflict looks for the job that owns the identifier.
                existing = self._existing(conn, scope, key, order_id, kind, device_id, digest, job_id)
                if existing is None:
                    raise
                return existing
            seq = cursor.lastrowid
            assert seq is not None
            if claim is not None and original_key is not None:
                record_claim(conn, seq, original_key, claim)
        # The row just inserted, built from the values written (not read back; ``request`` is equal to
        # what parsing ``request_json`` would give).
        created_at = _ms_to_dt(now)
        assert created_at is not None
        created = Job(
            job_id=job_id, seq=seq, kind=kind, device_id=device_id, scope=scope, priority=Priority(priority),
            idempotency_key=key, order_id=order_id, body_hash=digest, request=request, state=JobState.ACCEPTED,
            attempts=0, deadline=_ms_to_dt(deadline_ms), preflight=None, preflight_at=None, result=None,
            error_code=None, error_message=None, shift_number=None, document_number=None, fiscal_sign=None,
            created_at=created_at, updated_at=created_at, started_at=None, finished_at=None,
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("journal: accepted job %s (kind=%s priority=%d)", job_id, kind, priority, extra=context)
        return AcceptOutcome(created, replay=False)

    def _existing(
        self,
        conn: sqlite3.Connection,
        scope: str,
        key: str | None,
        order_id: str | None,
        kind: str,
        device_id: str,
        digest: str,
        job_id: str,
    ) -> AcceptOutcome | None:
        """The job that already owns the new job's idempotency key or order id, as a replay (same kind,
        device and body hash); ``DuplicateConflict`` if it is a different request, or if the job id is
        taken; None if nothing owns any of them."""
        matches: list[tuple[sqlite3.Row, str]] = []
        if key is not None:
            row = self._fetch(conn, "scope = ? AND idempotency_key = ?", (scope, key))
            if row is not None:
                matches.append((row, "idempotency_key"))
        if order_id is not None:
            row = self._fetch(conn, "scope = ? AND kind = ? AND order_id = ?", (scope, kind, order_id))
            if row is not None:
                matches.append((row, "order_id"))
        for row, field in matches:
            if row["body_hash"] != digest or row["kind"] != kind or row["device_id"] != device_id:
                log.info(
                    "journal: %s reused with a different request (existing job %s)", field, row["job_id"],
                    extra={"job_id": row["job_id"], "device_id": device_id},
                )
                raise DuplicateConflict(row["job_id"], field)
        if matches:
            owners = {row["job_id"] for row, _ in matches}
            if len(owners) > 1:
                # The key belongs to one job and the order id to another: not a retry of either.
                raise DuplicateConflict(matches[-1][0]["job_id"], matches[-1][1])
            existing = self._row_to_job(matches[0][0])
            log.info(
                "journal: replay of job %s (state %s)", existing.job_id, existing.state,
                extra={"job_id": existing.job_id, "device_id": device_id},
            )
            return AcceptOutcome(existing, replay=True)
        if conn.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone() is not None:
            raise DuplicateConflict(job_id, "job_id")
        return None

    def claim_next(self, device_id: str) -> Job | None:
        """Take the device's next ``accepted`` job (highest priority, then oldest) and mark it ``in_progress``
        (attempts + 1). Accepted jobs whose deadline has passed are failed with ``deadline_expired`` on the
        way: they never touched the device, so nothing needs to be asked of it.

        The worker should resolve ``in_flight(device_id)`` (recovery) before claiming new work.
        """
        return self._claim(device_id, None)

    def claim_and_preflight(
        self, device_id: str, facts_for: Callable[[Job], PreflightFacts | None]
    ) -> Job | None:
        """``claim_next`` and ``record_preflight`` in one transaction (one fsync instead of two).

        For a worker that asked the device for its state *before* claiming: ``facts_for(job)`` gets the job
        about to be claimed (still ``accepted``) and returns its pre-flight facts, or None to claim it without
        any (the worker could not plan it). It runs inside the write transaction, under the journal's lock,
        so it must be quick and must not touch the journal; if it raises, nothing is claimed. The facts are
        durable when this returns, exactly as after ``record_preflight``.
        """
        return self._claim(device_id, facts_for)

    def complete_and_claim(
        self,
        job_id: str,
        result: JobResult | Mapping[str, Any],
        device_id: str,
        facts_for: Callable[[Job], PreflightFacts | None],
    ) -> tuple[Job, Job | None]:
        """``complete(job_id, result)`` and ``claim_and_preflight(device_id, facts_for)`` in one transaction:
        (the finished job, the claimed one or None).

        For a worker that goes straight from one job to the next: the finished job's result and the next
        job's pre-flight facts become durable with one fsync. Delaying the first job's ``done`` until the
        next job's facts are known is safe: its document is in fiscal memory, and its own pre-flight facts
        are durable, so a crash meanwhile is resolved by recovery (the document is found: done). If
        ``facts_for`` raises, nothing is written (not even the completion).
        """
        sets = self._result_columns(result)
        with self._write() as conn:
            now = self._now_ms()
            done = self._transition(job_id, JobState.DONE, {**sets, "finished_ms": now}, conn=conn, now=now)
            job, facts = self._claim_in(conn, now, device_id, facts_for)
        if job is not None and facts is not None:
            self._log_preflight(job, facts)
        return done, job

    def _claim(self, device_id: str, facts_for: Callable[[Job], PreflightFacts | None] | None) -> Job | None:
        with self._write() as conn:
            job, facts = self._claim_in(conn, self._now_ms(), device_id, facts_for)
        if job is not None and facts is not None:
            self._log_preflight(job, facts)
        return job

    def _claim_in(
        self,
        conn: sqlite3.Connection,
        now: int,
        device_id: str,
        facts_for: Callable[[Job], PreflightFacts | None] | None,
    ) -> tuple[Job | None, PreflightFacts | None]:
        """The claim, inside the caller's write transaction: (claimed job, the facts recorded with it)."""
        expired = conn.execute(
            "SELECT job_id FROM jobs WHERE device_id = ? AND state = 'accepted'"
            " AND deadline_ms IS NOT NULL AND deadline_ms <= ?",
            (device_id, now),
        ).fetchall()
        for (expired_id,) in expired:
            self._transition(
                expired_id, JobState.FAILED,
                {"error_code": "deadline_expired", "error_message": "deadline passed before the job started",
                 "finished_ms": now},
                conn=conn, now=now,
            )
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE device_id = ? AND state = 'accepted'"
            " ORDER BY priority DESC, seq LIMIT 1",
            (device_id,),
        ).fetchone()
        if row is None:
            return None, None
        sets: dict[str, Any] = {"attempts": _NEXT_ATTEMPT, "started_ms": now}
        accepted = self._row_to_job(row)
        facts = facts_for(accepted) if facts_for is not None else None
        if facts is not None:
            sets.update(_preflight_columns(facts, now))
        claimed = self._transition(
            accepted.job_id, JobState.IN_PROGRESS, sets, conn=conn, now=now, row=row, request=accepted.request
        )
        return claimed, facts

    def record_preflight(self, job_id: str, facts: PreflightFacts) -> Job:
        """Durably record what the device reported just before this job's commands go out. Only for a job
        in ``in_progress``; calling it again (e.g. on a retry attempt) overwrites the previous facts."""
        with self._write() as conn:
            now = self._now_ms()
            row = self._fetch(conn, "job_id = ?", (job_id,))
            if row is None:
                raise JobNotFound(job_id)
            if row["state"] != JobState.IN_PROGRESS.value:
                raise InvalidTransition(job_id, row["state"], "preflight")
            columns = {**_preflight_columns(facts, now), "updated_ms": now}
            conn.execute(
                f"UPDATE jobs SET {', '.join(f'{name} = ?' for name in columns)} WHERE seq = ?",
                (*columns.values(), row["seq"]),
            )
            updated = dict(zip(_COLUMN_NAMES, row))  # the row as written (not read back)
            updated.update(columns)
        job = self._row_to_job(updated)
        self._log_preflight(job, facts)
        return job

    @staticmethod
    def _log_preflight(job: Job, facts: PreflightFacts) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "journal: preflight for job %s (last doc %s, shift %s, receipt open %s)", job.job_id,
                facts.last_document_number, facts.shift_number, facts.receipt_open,
                extra={"job_id": job.job_id, "device_id": job.device_id},
            )

    def complete(self, job_id: str, result: JobResult | Mapping[str, Any]) -> Job:
        """Mark an ``in_progress`` job ``done`` with its fiscal result (``JobResult`` or a JSON-ready mapping;
        money as ``Decimal`` or str, never float)."""
        sets = self._result_columns(result)
        with self._write() as conn:
            now = self._now_ms()
            return self._transition(job_id, JobState.DONE, {**sets, "finished_ms": now}, conn=conn, now=now)

    @staticmethod
    def _result_columns(result: JobResult | Mapping[str, Any]) -> dict[str, Any]:
        data = result.to_dict() if isinstance(result, JobResult) else dict(result)
        fiscal_sign = data.get("fiscal_sign")
        return {
            "result_json": to_json_text(data),
            "shift_number": _opt_int(data.get("shift_number"), "shift_number"),
            "document_number": _opt_int(data.get("document_number"), "document_number"),
            "fiscal_sign": None if fiscal_sign is None else str(fiscal_sign),
            "error_code": None,
            "error_message": None,
        }

    def fail(self, job_id: str, code: str, message: str) -> Job:
        """Mark a job ``failed``. Only call this when the device is known NOT to have produced a document for
        it (refused, cancelled, never started): ``failed`` promises that to whoever retries."""
        code = _check_text(code, "code", required=True) or ""
        message = str(message)[:_MAX_MESSAGE]
        with self._write() as conn:
            now = self._now_ms()
            return self._transition(
                job_id, JobState.FAILED,
                {"error_code": code, "error_message": message, "finished_ms": now},
                conn=conn, now=now,
            )

    def requeue(self, job_id: str) -> Job:
        """Send an ``in_progress`` job (recovery decided: not printed, retry) or a ``failed`` job (the caller
        decided to retry) back to ``accepted``. Pre-flight facts, error and finish time are cleared; the
        attempt count is kept. A failed refund counts against its original again, so it must still fit
        (``RefundExceedsOriginal`` otherwise: another refund took its part meanwhile)."""
        with self._write() as conn:
            now = self._now_ms()
            row = self._fetch(conn, "job_id = ?", (job_id,))
            if row is None:
                raise JobNotFound(job_id)
            if row["kind"] in REFUND_OF and row["state"] == JobState.FAILED.value:
                claim = refund_claim(row["kind"], from_json_text(row["request_json"]))
                if claim is not None:
                    record_claim(conn, row["seq"], check_refund(conn, claim, row["scope"]), claim)
            return self._transition(
                job_id, JobState.ACCEPTED,
                {"preflight_doc_number": None, "preflight_shift_number": None, "preflight_receipt_open": None,
                 "preflight_shift_open": None, "preflight_json": None, "preflight_ms": None,
                 "error_code": None, "error_message": None, "started_ms": None, "finished_ms": None},
                conn=conn, now=now, row=row,
            )

    def resolve_by_operator(
        self,
        job_id: str,
        *,
        operator: str,
        note: str,
        document_number: int | None = None,
        failed: bool = False,
    ) -> Job:
        """Record a person's decision about a job recovery left ``in_progress`` (the device's facts
        contradicted each other, so neither printing again nor failing was safe to decide by machine).

        Exactly one of: ``document_number`` - the operator found the job's fiscal document with this number:
        the job becomes ``done`` with a result saying so (``resolved_by``, ``document_number``; the fiscal
        details stay on the document itself); or ``failed=True`` - the operator established that nothing was
        printed: the job becomes ``failed`` (``operator_failed``, ``note`` as the message), so a client may
        retry it. The decision and its ``note`` are also appended to the job's audit trail (``notes``), in
        the same transaction.

        Only ``in_progress`` jobs (``InvalidTransition`` otherwise). A document number not after the job's
        pre-flight last document cannot be the job's (it existed before the job was sent): ``ValueError``.
        """
        if (document_number is None) == (not failed):
            raise ValueError("give either document_number or failed=True")
        operator = _check_text(operator, "operator", required=True) or ""
        note = str(note).strip()[:_MAX_MESSAGE]
        if not note:
            raise ValueError("an operator's decision needs a note saying why")
        if document_number is not None and (isinstance(document_number, bool) or document_number <= 0):
            raise ValueError("document_number must be a positive integer")
        with self._write() as conn:
            now = self._now_ms()
            row = self._fetch(conn, "job_id = ?", (job_id,))
            if row is None:
                raise JobNotFound(job_id)
            target = JobState.FAILED if failed else JobState.DONE
            if row["state"] != JobState.IN_PROGRESS.value:
                raise InvalidTransition(job_id, row["state"], target.value)
            before = row["preflight_doc_number"]
            if document_number is not None and before is not None and document_number <= before:
                raise ValueError(
                    f"document {document_number} is not after the job's pre-flight last document {before}: "
                    "it existed before the job was sent"
                )
            if failed:
                action = "resolved_failed"
                sets: dict[str, Any] = {"error_code": OPERATOR_FAILED, "error_message": note, "finished_ms": now}
            else:
                action = "resolved_done"
                result = {"document_number": document_number, "resolved_by": "operator", "operator": operator,
                          "operator_note": note, "recovered": True}
                sets = {**self._result_columns(result), "finished_ms": now}
            job = self._transition(job_id, target, sets, conn=conn, now=now, row=row)
            conn.execute(
                "INSERT INTO job_notes (job_seq, created_ms, author, action, note) VALUES (?, ?, ?, ?, ?)",
                (row["seq"], now, operator, action, note),
            )
        log.warning(
            "journal: job %s %s by operator %s", job_id, action, operator,
            extra={"job_id": job_id, "device_id": job.device_id, "state": job.state.value},
        )
        return job

    # ------------------------------------------------------------------ reads

    def notes(self, job_id: str) -> list[JobNote]:
        """The job's audit trail (operators' decisions), oldest first; ``JobNotFound`` for an unknown job."""
        rows = self._read(
            "SELECT j.job_id, n.created_ms, n.author, n.action, n.note FROM jobs AS j"
            " LEFT JOIN job_notes AS n ON n.job_seq = j.seq WHERE j.job_id = ? ORDER BY n.id",
            (job_id,),
        )
        if not rows:
            raise JobNotFound(job_id)
        out: list[JobNote] = []
        for row in rows:
            if row[1] is not None:
                created = _ms_to_dt(row[1])
                assert created is not None
                out.append(JobNote(row[0], created, row[2], row[3], row[4]))
        return out

    def get(self, job_id: str) -> Job:
        """The job with this id; ``JobNotFound`` if there is none."""
        rows = self._read(f"SELECT {_COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))
        if not rows:
            raise JobNotFound(job_id)
        return self._row_to_job(rows[0])

    def find_by_key(self, idempotency_key: str, *, scope: str | None = None) -> Job | None:
        """The job owning this idempotency key (in ``scope``, or in any scope if the key is used in only one)."""
        return self._find_unique("idempotency_key", idempotency_key, scope, None)

    def find_by_order_id(self, order_id: str, *, scope: str | None = None, kind: str | None = None) -> Job | None:
        """The job owning this order id (optionally narrowed by scope and kind)."""
        return self._find_unique("order_id", order_id, scope, kind)

    def _find_unique(self, column: str, value: str, scope: str | None, kind: str | None) -> Job | None:
        where, params = [f"{column} = ?"], [value]
        if scope is not None:
            where.append("scope = ?")
            params.append(scope)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        rows = self._read(f"SELECT {_COLUMNS} FROM jobs WHERE {' AND '.join(where)} LIMIT 2", params)
        if len(rows) > 1:
            raise JournalError(f"{column} is used by several jobs; pass scope (and kind) to choose one")
        return self._row_to_job(rows[0]) if rows else None

    def list_jobs(
        self,
        *,
        device_id: str | None = None,
        shift: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        state: JobState | Iterable[JobState] | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        """History, newest first. ``since`` is inclusive and ``until`` exclusive, on the time the job was
        accepted (not the device's fiscal date-time, which is in the result);
        ``shift`` matches the shift number of the fiscal result (done jobs). ``limit`` is capped at
        ``MAX_LIST_LIMIT``."""
        where: list[str] = []
        params: list[Any] = []
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        if shift is not None:
            where.append("shift_number = ?")
            params.append(int(shift))
        if since is not None:
            where.append("created_ms >= ?")
            params.append(_dt_to_ms(since))
        if until is not None:
            where.append("created_ms < ?")
            params.append(_dt_to_ms(until))
        if state is not None:
            states = [JobState(state)] if isinstance(state, str) else [JobState(s) for s in state]
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(s.value for s in states)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        limit = max(0, min(int(limit), MAX_LIST_LIMIT))
        sql = f"SELECT {_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_ms DESC, seq DESC LIMIT ? OFFSET ?"
        params.extend((limit, max(0, int(offset))))
        return [self._row_to_job(row) for row in self._read(sql, params)]

    def in_flight(self, device_id: str | None = None) -> list[Job]:
        """Jobs ``in_progress`` (oldest first): after a crash, exactly what recovery must resolve by asking
        the device, using each job's pre-flight facts. A job with ``preflight is None`` was claimed but its
        commands were never sent (workers record pre-flight facts before sending), so it can be requeued."""
        if device_id is None:
            rows = self._read(f"SELECT {_COLUMNS} FROM jobs WHERE state = 'in_progress' ORDER BY seq")
        else:
            rows = self._read(
                f"SELECT {_COLUMNS} FROM jobs WHERE device_id = ? AND state = 'in_progress' ORDER BY seq",
                (device_id,),
            )
        return [self._row_to_job(row) for row in rows]

    def counts(self, device_id: str | None = None) -> dict[JobState, int]:
        """Number of jobs in each state (every state present, zeros included); e.g. queue depth for 429."""
        if device_id is None:
            rows = self._read("SELECT state, count(*) FROM jobs GROUP BY state")
        else:
            rows = self._read("SELECT state, count(*) FROM jobs WHERE device_id = ? GROUP BY state", (device_id,))
        out = {state: 0 for state in JobState}
        for row in rows:
            out[JobState(row[0])] = row[1]
        return out


#: ``_transition``'s value for ``attempts`` meaning "one more than the row's" (computed under the write lock).
_NEXT_ATTEMPT: Any = object()

#: Transitions every job makes (queued, claimed, printed) are DEBUG lines: the device worker logs each
#: job it queues and finishes, so at INFO they would repeat it; failures and requeues stay INFO.
_ROUTINE = frozenset({JobState.IN_PROGRESS, JobState.DONE})
