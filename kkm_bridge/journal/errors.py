"""Exceptions raised by the journal.

They are separate from sqlite3's exceptions on purpose: callers (device workers, the HTTP API) map these to
behaviour (409, 404, a recovery decision) and must not need to know the storage engine.
"""

from __future__ import annotations


class JournalError(Exception):
    """Base class of every error the journal raises on purpose."""


class JobNotFound(JournalError, LookupError):
    """No job with this id exists in the journal."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")
        self.job_id = job_id


class DuplicateConflict(JournalError):
    """An idempotency key or order id was reused for a different request.

    The HTTP API turns this into ``409 duplicate_check``. ``field`` is ``"idempotency_key"`` or ``"order_id"``
    and says which identifier collided; ``existing_job_id`` is the job that already owns it.
    """

    def __init__(self, existing_job_id: str, field: str) -> None:
        super().__init__(f"{field} already used by job {existing_job_id!r} with a different request")
        self.existing_job_id = existing_job_id
        self.field = field


class InvalidTransition(JournalError):
    """A state change that the job state machine does not allow (e.g. completing a job that never started).

    Seeing this means a bug or a race between two workers; it is never silently ignored because a wrong
    transition could lead to a second fiscal document for one job.
    """

    def __init__(self, job_id: str, from_state: str, to_state: str) -> None:
        super().__init__(f"job {job_id!r}: transition {from_state} -> {to_state} is not allowed")
        self.job_id = job_id
        self.from_state = from_state
        self.to_state = to_state


class SchemaError(JournalError):
    """The journal file's schema is newer than this code, or is not a journal at all."""
