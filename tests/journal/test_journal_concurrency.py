"""Concurrent use: many threads (one shared Journal, or one Journal each) and several processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from journal_testutil import new_job, sell_body

from kkm_bridge.journal import AcceptOutcome, DuplicateConflict, JobState, Journal

THREADS = 12
REPO_ROOT = Path(__file__).resolve().parents[2]


def run_together(worker: Callable[[int], Any], count: int = THREADS) -> list[Any]:
    """Run ``worker(i)`` in ``count`` threads released at the same moment; return results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = worker(i)
        except Exception as exc:  # collected and checked by the test
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def assert_exactly_one_created(results: list[Any]) -> str:
    assert all(isinstance(r, AcceptOutcome) for r in results), results
    created = [r for r in results if r.created]
    assert len(created) == 1
    job_id = created[0].job.job_id
    assert {r.job.job_id for r in results} == {job_id}
    return job_id


def test_threads_sharing_one_journal_accept_one_job(journal: Journal) -> None:
    results = run_together(lambda i: journal.accept(new_job(idempotency_key="same")))
    assert_exactly_one_created(results)
    assert sum(journal.counts().values()) == 1


def test_threads_with_own_connections_accept_one_job(journal_path: Path) -> None:
    Journal.open(journal_path).close()
    journals = [Journal.open(journal_path) for _ in range(THREADS)]
    try:
        results = run_together(lambda i: journals[i].accept(new_job(idempotency_key="same", order_id="o-1")))
        assert_exactly_one_created(results)
        assert sum(journals[0].counts().values()) == 1
    finally:
        for j in journals:
            j.close()


def test_same_key_different_bodies_one_wins_others_conflict(journal_path: Path) -> None:
    Journal.open(journal_path).close()
    journals = [Journal.open(journal_path) for _ in range(THREADS)]
    try:
        results = run_together(
            lambda i: journals[i].accept(new_job(sell_body(f"{i + 1}.00"), idempotency_key="same"))
        )
        winners = [r for r in results if isinstance(r, AcceptOutcome)]
        conflicts = [r for r in results if isinstance(r, DuplicateConflict)]
        assert len(winners) == 1 and winners[0].created
        assert len(conflicts) == THREADS - 1
        assert {c.existing_job_id for c in conflicts} == {winners[0].job.job_id}
    finally:
        for j in journals:
            j.close()


def test_concurrent_claims_take_each_job_once(journal_path: Path) -> None:
    with Journal.open(journal_path) as j:
        for n in range(40):
            j.accept(new_job(job_id=f"j{n}"))
    journals = [Journal.open(journal_path) for _ in range(4)]
    claimed: list[list[str]] = [[] for _ in journals]
    try:
        def worker(i: int) -> None:
            while (job := journals[i].claim_next("kkm1")) is not None:
                claimed[i].append(job.job_id)

        results = run_together(worker, len(journals))
        assert all(r is None for r in results), results
        everything = Counter(job_id for ids in claimed for job_id in ids)
        assert set(everything) == {f"j{n}" for n in range(40)}
        assert set(everything.values()) == {1}
        assert journals[0].counts()[JobState.IN_PROGRESS] == 40
    finally:
        for j in journals:
            j.close()


def test_processes_accepting_the_same_key_create_one_job(journal_path: Path) -> None:
    Journal.open(journal_path).close()
    script = textwrap.dedent("""
        import sys
        from kkm_bridge.journal import Journal, NewJob
        with Journal.open(sys.argv[1]) as j:
            for n in range(20):
                out = j.accept(NewJob(kind="sell", device_id="kkm1", request={"n": n}, idempotency_key=f"k{n}"))
                print("created" if out.created else "replay", out.job.job_id, flush=True)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(journal_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(4)
    ]
    lines = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        lines += out.split("\n")
    outcomes = Counter(line.split()[0] for line in lines if line)
    assert outcomes == {"created": 20, "replay": 60}
    with Journal.open(journal_path) as j:
        assert j.counts()[JobState.ACCEPTED] == 20
