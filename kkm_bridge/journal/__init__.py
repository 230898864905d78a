"""The durable job journal shared by the device workers (issue 5) and the HTTP API (issue 6).

One SQLite file in the state directory (e.g. ``<state_dir>/journal.sqlite3``): mode 0600 (also its -wal/-shm
files), WAL, ``synchronous=FULL``, ``busy_timeout``. Every request is recorded here BEFORE it touches the
device, so after a crash the journal says what might have been in flight. (One exception to "every commit
fsyncs": ``accept(durable=False)`` for synchronous requests, whose record is made durable by the job's own
claim - a FULL commit of the same log - before the device is touched; see ``Journal.accept``.)

Lifecycle of a job (see ``models`` for the exact state machine)::

    api:    outcome = journal.accept(NewJob(kind="sell", device_id="kkm1", request=body,
                                            idempotency_key=key, order_id=order, priority=Priority.INTERACTIVE))
            # outcome.replay -> same key/order id and same body: answer with outcome.job (marked as a replay)
            # DuplicateConflict(existing_job_id, field) -> 409 duplicate_check
    worker: at start:   for job in journal.in_flight("kkm1"): ...ask the device, then complete/requeue/fail
            loop:       job = journal.claim_next("kkm1")            # accepted -> in_progress, attempts + 1
                        journal.record_preflight(job.job_id, PreflightFacts(last_document_number=..,
                                                 shift_number=.., receipt_open=..))   # durable, then send
                        journal.complete(job.job_id, JobResult(...))  # or fail(job_id, code, message)
            or, having asked the device first: job = journal.claim_and_preflight("kkm1", facts_for)
                        # claim + pre-flight facts (facts_for(job) -> PreflightFacts) in one transaction
                        journal.complete_and_claim(done_id, result, "kkm1", facts_for)  # + the last job's done
    api:    journal.get(job_id), journal.find_by_key(key), journal.list_jobs(device_id=, shift=, since=,
            until=, state=), journal.counts(device_id)

Public API:

* ``Journal.open(path, *, busy_timeout_ms=10000, clock=None) -> Journal`` (sync, stdlib sqlite3, thread-safe:
  one connection per object behind a lock; several objects/processes may share one file).
  ``AsyncJournal`` wraps it with ``asyncio.to_thread`` for the event loop. Calls are one small transaction
  each; every write is committed and fsync'd before it returns.
* Writes: ``accept(NewJob) -> AcceptOutcome(job, replay)``, ``claim_next(device_id) -> Job | None``,
  ``record_preflight(job_id, PreflightFacts) -> Job``, ``claim_and_preflight(device_id, facts_for) -> Job | None``,
  ``complete_and_claim(job_id, result, device_id, facts_for) -> (Job, Job | None)``, ``complete(job_id, JobResult | mapping) -> Job``,
  ``fail(job_id, code, message) -> Job``, ``requeue(job_id) -> Job``,
  ``resolve_by_operator(job_id, operator=, note=, document_number= | failed=True) -> Job`` (a person's decision
  about a job recovery left ``in_progress``, with an audit note; ``notes(job_id) -> list[JobNote]``).
* Reads: ``get(job_id) -> Job`` (``JobNotFound``), ``find_by_key(key, scope=None)``,
  ``find_by_order_id(order_id, scope=None, kind=None)``, ``list_jobs(...)`` (newest first), ``in_flight(device_id)``,
  ``counts(device_id=None) -> dict[JobState, int]``.
* Errors: ``JournalError`` (base), ``DuplicateConflict(existing_job_id, field)``,
  ``RefundExceedsOriginal(path, remaining, limit, refunded, message)`` (refunds of one sale above the sale),
  ``InvalidTransition(job_id, from_state, to_state)``, ``JobNotFound(job_id)``, ``SchemaError``.

Idempotency rules: ``idempotency_key`` is unique per ``scope`` (default: the device id); ``order_id`` is unique
per scope and kind (a refund carries its sale's order id). A match is a replay when kind, device and body hash
(sha256 of the canonical JSON, see ``canonical``) are equal; otherwise ``DuplicateConflict``. The caller should
hash the request without transport fields (the key itself, ``async``).
"""

from __future__ import annotations

from .aio import AsyncJournal
from .canonical import body_hash, canonical_json, canonicalize
from .errors import DuplicateConflict, InvalidTransition, JobNotFound, JournalError, SchemaError
from .models import (
    ALLOWED_TRANSITIONS,
    OPERATOR_FAILED,
    TERMINAL_STATES,
    AcceptOutcome,
    Job,
    JobKind,
    JobNote,
    JobResult,
    JobState,
    NewJob,
    PreflightFacts,
    Priority,
)
from .refunds import RefundExceedsOriginal
from .schema import LATEST_VERSION as SCHEMA_VERSION
from .store import FILE_MODE, Journal

__all__ = [
    "ALLOWED_TRANSITIONS", "OPERATOR_FAILED", "TERMINAL_STATES", "AcceptOutcome", "AsyncJournal",
    "DuplicateConflict", "FILE_MODE", "InvalidTransition", "Job", "JobKind", "JobNote", "JobNotFound", "JobResult",
    "JobState", "Journal", "JournalError", "NewJob", "PreflightFacts", "Priority", "RefundExceedsOriginal",
    "SCHEMA_VERSION", "SchemaError", "body_hash", "canonical_json", "canonicalize",
]
