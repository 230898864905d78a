"""Stateful property test: random sequences of journal operations against a tiny in-memory model.

It checks what the example-based tests can miss in combination: the queue order after requeues, replay vs
conflict after state changes, and that a refused transition changes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from kkm_bridge.journal import (
    ALLOWED_TRANSITIONS,
    DuplicateConflict,
    InvalidTransition,
    JobState,
    Journal,
    NewJob,
    Priority,
)


@dataclass
class ModelJob:
    job_id: str
    seq: int
    key: str
    body: int
    priority: Priority
    state: JobState = JobState.ACCEPTED


class JournalMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="journal-sm-"))
        self.journal = Journal.open(self.dir / "journal.sqlite3")
        self.jobs: dict[str, ModelJob] = {}
        self.by_key: dict[str, str] = {}
        self.seq = 0

    @initialize()
    def start(self) -> None:
        assert sum(self.journal.counts().values()) == 0

    def teardown(self) -> None:
        self.journal.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(key=st.sampled_from("abcde"), body=st.integers(0, 2), priority=st.sampled_from(Priority))
    def accept(self, key: str, body: int, priority: Priority) -> None:
        new = NewJob(kind="sell", device_id="kkm1", request={"n": body}, idempotency_key=key, priority=priority)
        existing = self.jobs.get(self.by_key.get(key, ""))
        if existing is None:
            outcome = self.journal.accept(new)
            assert outcome.created
            self.seq += 1
            self.jobs[outcome.job.job_id] = ModelJob(outcome.job.job_id, self.seq, key, body, priority)
            self.by_key[key] = outcome.job.job_id
        elif existing.body == body:
            outcome = self.journal.accept(new)
            assert outcome.replay and outcome.job.job_id == existing.job_id
            assert outcome.job.state is existing.state
        else:
            try:
                self.journal.accept(new)
            except DuplicateConflict as exc:
                assert exc.existing_job_id == existing.job_id
            else:
                raise AssertionError("expected DuplicateConflict")

    @rule()
    def claim(self) -> None:
        waiting = [j for j in self.jobs.values() if j.state is JobState.ACCEPTED]
        expected = min(waiting, key=lambda j: (-j.priority, j.seq)) if waiting else None
        job = self.journal.claim_next("kkm1")
        if expected is None:
            assert job is None
        else:
            assert job is not None and job.job_id == expected.job_id
            expected.state = JobState.IN_PROGRESS

    @rule(data=st.data(), target_state=st.sampled_from([JobState.DONE, JobState.FAILED, JobState.ACCEPTED]))
    def transition(self, data: st.DataObject, target_state: JobState) -> None:
        if not self.jobs:
            return
        job = self.jobs[data.draw(st.sampled_from(sorted(self.jobs)))]
        call = {
            JobState.DONE: lambda: self.journal.complete(job.job_id, {"fiscal_sign": "1"}),
            JobState.FAILED: lambda: self.journal.fail(job.job_id, "e", "m"),
            JobState.ACCEPTED: lambda: self.journal.requeue(job.job_id),
        }[target_state]
        if target_state in ALLOWED_TRANSITIONS[job.state]:
            assert call().state is target_state
            job.state = target_state
        else:
            try:
                call()
            except InvalidTransition:
                pass
            else:
                raise AssertionError(f"{job.state} -> {target_state} should be refused")

    @invariant()
    def states_match(self) -> None:
        counts = {state: 0 for state in JobState}
        for job in self.jobs.values():
            counts[job.state] += 1
        assert self.journal.counts() == counts
        assert {j.job_id for j in self.journal.in_flight("kkm1")} == {
            j.job_id for j in self.jobs.values() if j.state is JobState.IN_PROGRESS
        }


JournalMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_journal_state_machine = JournalMachine.TestCase
