"""``accept(durable=False)``: the record waits for the next durable commit instead of taking an fsync of its own.

What can be checked without pulling the power: the statements SQLite runs (the transaction at NORMAL, the
connection back at FULL, every other write at FULL), and that a killed process loses nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from journal_testutil import new_job

from kkm_bridge.journal import Journal, JobState, PreflightFacts

ROOT = Path(__file__).resolve().parents[2]
FULL = 2  # PRAGMA synchronous values
NORMAL = 1


def traced(journal: Journal) -> list[str]:
    statements: list[str] = []
    journal._conn.set_trace_callback(lambda sql: statements.append(" ".join(sql.split()).split(" (")[0]))
    return statements


def test_a_non_durable_accept_commits_at_normal_and_leaves_the_connection_at_full(journal: Journal) -> None:
    statements = traced(journal)
    outcome = journal.accept(new_job(idempotency_key="k1"), durable=False)
    assert outcome.job.state is JobState.ACCEPTED and not outcome.replay
    assert statements[0] == "PRAGMA synchronous = NORMAL"
    assert statements[1] == "BEGIN IMMEDIATE" and statements[-2] == "COMMIT"
    assert statements[-1] == "PRAGMA synchronous = FULL"
    assert journal.pragma("synchronous") == FULL

    statements.clear()
    facts = PreflightFacts(last_document_number=7, shift_number=1, receipt_open=False, shift_open=True)
    claimed = journal.claim_and_preflight("kkm1", lambda job: facts)
    assert claimed is not None and claimed.job_id == outcome.job.job_id
    assert not any(s.startswith("PRAGMA synchronous") for s in statements)  # the claim commits at FULL
    assert journal.pragma("synchronous") == FULL


def test_a_durable_accept_is_the_default(journal: Journal) -> None:
    statements = traced(journal)
    journal.accept(new_job())
    assert not any(s.startswith("PRAGMA synchronous") for s in statements)


def test_a_failed_non_durable_accept_still_restores_full(journal: Journal) -> None:
    journal.accept(new_job(idempotency_key="same"))
    try:
        journal.accept(new_job({"other": "body"}, idempotency_key="same"), durable=False)
    except Exception:  # noqa: BLE001 - DuplicateConflict; the point is the connection's mode afterwards
        pass
    else:
        raise AssertionError("a different body under the same key must conflict")
    assert journal.pragma("synchronous") == FULL


def test_a_killed_process_loses_no_non_durable_accept(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(ROOT / "tests" / "journal")!r})
        from journal_testutil import new_job
        from kkm_bridge.journal import Journal
        journal = Journal.open({str(path)!r})
        journal.accept(new_job(idempotency_key="before-kill"), durable=False)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    with Journal.open(path) as journal:
        [job] = journal.list_jobs()
        assert job.idempotency_key == "before-kill" and job.state is JobState.ACCEPTED
    assert os.stat(path).st_mode & 0o777 == 0o600
