"""Crash durability: a separate process writes to the journal and is killed with SIGKILL.

Reopening the file must show exactly what recovery needs: the claimed job in_progress with its pre-flight
facts, jobs not yet claimed still accepted, and nothing from a transaction that never committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kkm_bridge.journal import JobState, Journal, PreflightFacts, Priority

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL semantics")


def run_until_ready(script: str, *args: str) -> subprocess.Popen[str]:
    """Start ``script`` in a new interpreter and wait until it prints READY (its writes are then done)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "READY":
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"child did not get ready: {line!r}\n{err}")
    return proc


def sigkill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


WORKER = """
    import sys, time
    from kkm_bridge.journal import Journal, NewJob, PreflightFacts, Priority

    j = Journal.open(sys.argv[1])
    j.accept(NewJob(kind="sell", device_id="kkm1", request={"total_sum": "1500.00"},
                    idempotency_key="key-1", job_id="chk_inflight"))
    j.accept(NewJob(kind="sell", device_id="kkm1", request={"total_sum": "20.00"},
                    priority=Priority.BACKGROUND, order_id="web-7", job_id="chk_waiting"))
    job = j.claim_next("kkm1")
    assert job is not None and job.job_id == "chk_inflight"
    j.record_preflight(job.job_id, PreflightFacts(last_document_number=41, shift_number=3, receipt_open=False,
                                                  shift_open=True, extra={"receipt_number": 11}))
    # Here the worker would send the receipt to the device. We die instead, without closing anything.
    print("READY", flush=True)
    time.sleep(60)
"""


def test_sigkill_after_claim_leaves_the_job_in_flight_with_its_preflight(journal_path: Path) -> None:
    sigkill(run_until_ready(WORKER, str(journal_path)))
    wal = journal_path.with_name(journal_path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0  # the killed process never checkpointed: data is in the WAL

    with Journal.open(journal_path) as j:
        in_flight = j.in_flight("kkm1")
        assert [job.job_id for job in in_flight] == ["chk_inflight"]
        job = in_flight[0]
        assert job.state is JobState.IN_PROGRESS
        assert job.attempts == 1
        assert job.idempotency_key == "key-1"
        assert job.request == {"total_sum": "1500.00"}
        assert job.preflight == PreflightFacts(
            last_document_number=41, shift_number=3, receipt_open=False, shift_open=True,
            extra={"receipt_number": 11},
        )
        waiting = j.get("chk_waiting")
        assert waiting.state is JobState.ACCEPTED and waiting.priority is Priority.BACKGROUND
        # Recovery decides "not printed": requeue; the retry then follows its own pre-flight.
        j.requeue("chk_inflight")
        retry = j.claim_next("kkm1")
        assert retry is not None and retry.job_id == "chk_inflight" and retry.attempts == 2


UNCOMMITTED = """
    import sqlite3, sys, time
    from kkm_bridge.journal import Journal, NewJob

    Journal.open(sys.argv[1]).close()
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO jobs (job_id, kind, device_id, scope, priority, body_hash, request_json, state, created_ms,"
        " updated_ms) VALUES ('ghost', 'sell', 'kkm1', 'kkm1', 10, 'h', '{}', 'accepted', 0, 0)"
    )
    print("READY", flush=True)   # holds the write lock, never commits
    time.sleep(60)
"""


def test_sigkill_mid_transaction_leaves_nothing_and_no_lock(journal_path: Path) -> None:
    sigkill(run_until_ready(UNCOMMITTED, str(journal_path)))
    # A short busy timeout: if the dead process's lock were still held, accept() would fail fast.
    with Journal.open(journal_path, busy_timeout_ms=200) as j:
        assert sum(j.counts().values()) == 0
        from journal_testutil import new_job

        assert j.accept(new_job(job_id="after")).created
        assert [job.job_id for job in j.list_jobs()] == ["after"]


def test_accepted_job_survives_sigkill_right_after_accept(journal_path: Path) -> None:
    script = """
        import sys, time
        from kkm_bridge.journal import Journal, NewJob
        j = Journal.open(sys.argv[1])
        out = j.accept(NewJob(kind="cash_in", device_id="kkm1", request={"amount": "5000.00"},
                              idempotency_key="cash-1"))
        print("READY", flush=True)
        time.sleep(60)
    """
    sigkill(run_until_ready(script, str(journal_path)))
    with Journal.open(journal_path) as j:
        job = j.find_by_key("cash-1")
        assert job is not None and job.state is JobState.ACCEPTED and job.kind == "cash_in"
