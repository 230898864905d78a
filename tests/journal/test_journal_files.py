"""The journal file itself: permissions, WAL + synchronous=FULL, schema versioning."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from journal_testutil import new_job

from kkm_bridge.journal import SCHEMA_VERSION, Journal, SchemaError


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def test_file_and_wal_files_are_0600(journal: Journal, journal_path: Path) -> None:
    journal.accept(new_job(idempotency_key="k1"))
    assert mode_of(journal_path) == 0o600
    for side in sidecars(journal_path):
        assert side.exists(), side
        assert mode_of(side) == 0o600, side


def test_new_state_directory_is_0700(journal: Journal, journal_path: Path) -> None:
    assert mode_of(journal_path.parent) == 0o700


def test_permissions_hold_even_with_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "open-umask" / "journal.sqlite3"
    old = os.umask(0)
    try:
        with Journal.open(path) as j:
            j.accept(new_job())
            assert mode_of(path) == 0o600
            for side in sidecars(path):
                assert mode_of(side) == 0o600, side
    finally:
        os.umask(old)


def test_existing_loose_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    path.touch()
    os.chmod(path, 0o644)
    for side in sidecars(path):
        side.touch()
        os.chmod(side, 0o666)
    with Journal.open(path) as j:
        j.accept(new_job())
        assert mode_of(path) == 0o600
        for side in sidecars(path):
            assert mode_of(side) == 0o600, side


def test_wal_synchronous_full_and_busy_timeout_are_set(journal: Journal, journal_path: Path) -> None:
    assert journal.pragma("journal_mode") == "wal"
    assert journal.pragma("synchronous") == 2  # FULL
    assert journal.pragma("busy_timeout") > 0
    # WAL is a property of the file: a plain connection that did not ask for it sees it too.
    raw = sqlite3.connect(journal_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_schema_version_recorded_and_reopen_is_idempotent(journal_path: Path) -> None:
    with Journal.open(journal_path) as j:
        job = j.accept(new_job(idempotency_key="k")).job
    with Journal.open(journal_path) as j:
        assert j.get(job.job_id).idempotency_key == "k"
    raw = sqlite3.connect(journal_path)
    try:
        rows = raw.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    finally:
        raw.close()
    assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_newer_schema_is_refused(journal_path: Path) -> None:
    Journal.open(journal_path).close()
    raw = sqlite3.connect(journal_path)
    with raw:
        raw.execute("INSERT INTO schema_version(version, applied_ms) VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    raw.close()
    with pytest.raises(SchemaError):
        Journal.open(journal_path)


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("CREATE TABLE something (x)")
    raw.close()
    with pytest.raises(SchemaError):
        Journal.open(path)


def test_closed_journal_refuses_calls(journal_path: Path) -> None:
    j = Journal.open(journal_path)
    j.close()
    j.close()  # idempotent
    from kkm_bridge.journal import JournalError

    with pytest.raises(JournalError):
        j.counts()
