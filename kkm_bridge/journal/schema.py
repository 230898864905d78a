"""Journal schema and its forward-only migrations.

Why a version table and not ``PRAGMA user_version``: the table can be read with plain SQL by operators and
tools, and it records when each step was applied. Migrations are append-only: never edit a released step,
add a new one. Opening a file whose version is newer than this code raises ``SchemaError`` instead of
guessing.

Timestamps are INTEGER epoch milliseconds (UTC): sortable, indexable, no timezone parsing in queries.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from .errors import SchemaError
from .refunds import backfill_claims

log = logging.getLogger(__name__)

# Each migration is (version, steps). A step is an SQL statement, or a function of the connection for what SQL
# alone cannot do (a backfill). The steps run in one transaction with the version bump.
MIGRATIONS: tuple[tuple[int, tuple[str | Callable[[sqlite3.Connection], None], ...]], ...] = (
    (
        1,
        (
            """
            CREATE TABLE jobs (
                seq                     INTEGER PRIMARY KEY AUTOINCREMENT,  -- FIFO order within a priority
                job_id                  TEXT    NOT NULL UNIQUE,
                kind                    TEXT    NOT NULL,
                device_id               TEXT    NOT NULL,
                scope                   TEXT    NOT NULL,   -- namespace of idempotency_key / order_id
                priority                INTEGER NOT NULL,
                idempotency_key         TEXT,
                order_id                TEXT,
                body_hash               TEXT    NOT NULL,
                request_json            TEXT    NOT NULL,   -- canonical JSON; numbers as strings
                state                   TEXT    NOT NULL
                    CHECK (state IN ('accepted', 'in_progress', 'done', 'failed')),
                attempts                INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                deadline_ms             INTEGER,
                -- pre-flight facts read from the device right before sending (what recovery compares with)
                preflight_doc_number    INTEGER,
                preflight_shift_number  INTEGER,
                preflight_receipt_open  INTEGER,
                preflight_shift_open    INTEGER,
                preflight_json          TEXT,
                preflight_ms            INTEGER,
                -- outcome
                result_json             TEXT,
                shift_number            INTEGER,   -- copied from the result, for history by shift
                document_number         INTEGER,
                fiscal_sign             TEXT,
                error_code              TEXT,
                error_message           TEXT,
                created_ms              INTEGER NOT NULL,
                updated_ms              INTEGER NOT NULL,
                started_ms              INTEGER,
                finished_ms             INTEGER
            )
            """,
            # Idempotency: one job per key within a scope. An order id is unique per scope and kind, because a
            # refund of an order legitimately carries the same order id as its sale.
            "CREATE UNIQUE INDEX jobs_idem_key ON jobs(scope, idempotency_key) WHERE idempotency_key IS NOT NULL",
            "CREATE UNIQUE INDEX jobs_order_id ON jobs(scope, kind, order_id) WHERE order_id IS NOT NULL",
            # The worker's queue: next job for a device by priority, then FIFO.
            "CREATE INDEX jobs_queue ON jobs(device_id, state, priority DESC, seq)",
            # Status and history queries.
            "CREATE INDEX jobs_state ON jobs(state, created_ms)",
            "CREATE INDEX jobs_device_created ON jobs(device_id, created_ms)",
            "CREATE INDEX jobs_shift ON jobs(device_id, shift_number)",
            "CREATE INDEX jobs_created ON jobs(created_ms)",
        ),
    ),
    (
        2,
        (
            # What each refund takes from its original, so the sum of the refunds of one sale is one indexed
            # query (see ``refunds``). One row per refund job; failed refunds are filtered by the job's state.
            """
            CREATE TABLE refund_claims (
                job_seq         INTEGER PRIMARY KEY REFERENCES jobs(seq),
                original_key    TEXT    NOT NULL,   -- the journalled sale, or cashbox + RNM + fiscal sign
                amount          INTEGER NOT NULL,   -- the refund's total, minor units
                lines_json      TEXT                -- {"<name>\\u001f<price minor>": quantity in thousandths}
            )
            """,
            "CREATE INDEX refund_claims_original ON refund_claims(original_key)",
            # A refund finds its sale by fiscal sign (only done jobs have one).
            "CREATE INDEX jobs_fiscal_sign ON jobs(fiscal_sign) WHERE fiscal_sign IS NOT NULL",
            backfill_claims,
        ),
    ),
    (
        3,
        (
            # The audit trail of decisions made by a person about a job (``Journal.resolve_by_operator``):
            # who, when, what, and why. Append-only; a job's own columns say where it ended up.
            """
            CREATE TABLE job_notes (
                id              INTEGER PRIMARY KEY AUTOINCREMENT,
                job_seq         INTEGER NOT NULL REFERENCES jobs(seq),
                created_ms      INTEGER NOT NULL,
                author          TEXT    NOT NULL,
                action          TEXT    NOT NULL,
                note            TEXT    NOT NULL
            )
            """,
            "CREATE INDEX job_notes_job ON job_notes(job_seq)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]


def current_version(conn: sqlite3.Connection) -> int:
    """Version of the schema in the file; 0 for an empty (new) file."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        other = conn.execute("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchone()[0]
        if other:
            raise SchemaError("the file is an SQLite database but not a kkm-bridge journal")
        return 0
    value = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    return int(value or 0)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to ``LATEST_VERSION``. The connection must be in autocommit mode
    (``isolation_level=None``); each step runs in its own ``BEGIN IMMEDIATE`` transaction, so two processes
    opening a new file at once do not both apply it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)"
        )
        if version > LATEST_VERSION:
            raise SchemaError(f"journal schema version {version} is newer than this code ({LATEST_VERSION})")
        for target, statements in MIGRATIONS:
            if target <= version:
                continue
            for statement in statements:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version(version, applied_ms) VALUES (?, ?)", (target, int(time.time() * 1000))
            )
            log.info("journal schema migrated to version %d", target)
            version = target
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version
