"""Value types of the journal: job states and their allowed transitions, new jobs, stored jobs, results.

The state machine is deliberately small, because every state must have an obvious meaning for crash recovery:

    accepted ──claim──> in_progress ──complete──> done
        │                   │  │
        │                   │  └──fail──> failed ──requeue──> accepted
        │                   └──requeue──> accepted
        └──fail (rejected or deadline passed before start)──> failed

* ``accepted``: durably recorded, has NOT touched the device. Safe to start, or to fail without asking it.
* ``in_progress``: a worker claimed it and may have sent commands. After a crash this is exactly the set
  recovery must resolve by asking the device (see ``Journal.in_flight``), using the pre-flight facts.
* ``done``: the device produced its document; the result holds the fiscal data. Terminal.
* ``failed``: known NOT to have produced a fiscal document (device refused, cancelled, deadline passed).
  ``requeue`` may send it back to ``accepted`` when the caller decides to retry (e.g. paper was refilled).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

__all__ = [
    "JobState", "JobKind", "Priority", "ALLOWED_TRANSITIONS", "TERMINAL_STATES", "NewJob", "PreflightFacts",
    "JobResult", "Job", "AcceptOutcome", "JobNote", "OPERATOR_FAILED", "validate_kind", "validate_job_id",
]


class JobState(StrEnum):
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"


ALLOWED_TRANSITIONS: Mapping[JobState, frozenset[JobState]] = {
    JobState.ACCEPTED: frozenset({JobState.IN_PROGRESS, JobState.FAILED}),
    JobState.IN_PROGRESS: frozenset({JobState.DONE, JobState.FAILED, JobState.ACCEPTED}),
    JobState.FAILED: frozenset({JobState.ACCEPTED}),
    JobState.DONE: frozenset(),
}

TERMINAL_STATES = frozenset({JobState.DONE, JobState.FAILED})


class JobKind(StrEnum):
    """Known job kinds. ``NewJob.kind`` also accepts any other lower_snake_case name, so adding an operation
    elsewhere does not need a journal change (or a schema migration)."""

    SELL = "sell"
    SELL_RETURN = "sell_return"
    BUY = "buy"
    BUY_RETURN = "buy_return"
    SHIFT_OPEN = "shift_open"
    SHIFT_CLOSE = "shift_close"
    X_REPORT = "x_report"
    CASH_IN = "cash_in"
    CASH_OUT = "cash_out"
    CANCEL_RECEIPT = "cancel_receipt"
    PRINT_TEXT = "print_text"
    OPEN_DRAWER = "open_drawer"
    SET_DATETIME = "set_datetime"


class Priority(IntEnum):
    """Higher runs first. Interactive = a cashier is waiting at the counter; background = queued online
    orders and ``Prefer: respond-async`` requests."""

    BACKGROUND = 0
    INTERACTIVE = 10


_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def validate_kind(kind: str) -> str:
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise ValueError(f"job kind must be lower_snake_case (max 32 chars), got {kind!r}")
    return str(kind)


def validate_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _ID_RE.match(job_id):
        raise ValueError("job id must be 1-128 chars of [A-Za-z0-9_.:-], starting with a letter or digit")
    return job_id


@dataclass(frozen=True, slots=True)
class NewJob:
    """A request to record. ``request`` is the JSON body (dict) that the worker will execute; it is stored in
    canonical form and hashed (see ``canonical``). ``scope`` is the namespace in which ``idempotency_key`` and
    ``order_id`` are unique; it defaults to ``device_id`` (the HTTP layer may use the cashbox's fiscal_id or
    the API client). ``job_id`` defaults to ``"job_" + uuid4().hex``; the API may pass its own ``"chk_..."``.
    """

    kind: str
    device_id: str
    request: Mapping[str, Any]
    priority: Priority = Priority.INTERACTIVE
    idempotency_key: str | None = None
    order_id: str | None = None
    scope: str | None = None
    deadline: datetime | None = None
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class PreflightFacts:
    """What the device said just before the job's commands were sent.

    Recovery compares these with what the device says after a crash: a last fiscal document number that
    moved on means the receipt was printed (recover its data, mark done); an open receipt means it was cut
    off (cancel, then retry); unchanged and closed means it never started (retry).
    """

    last_document_number: int | None
    shift_number: int | None
    receipt_open: bool | None
    shift_open: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobResult:
    """Typed shape of a fiscal result. ``Journal.complete`` also accepts a plain mapping; these keys
    (``document_number``, ``shift_number``, ``fiscal_sign``) are copied to indexed columns either way."""

    fiscal_sign: str | None = None
    document_number: int | None = None
    shift_number: int | None = None
    receipt_number: int | None = None
    fiscal_datetime: datetime | None = None
    total: Decimal | None = None
    vat: Mapping[str, Decimal] = field(default_factory=dict)
    offline: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out.update(
            fiscal_sign=self.fiscal_sign,
            document_number=self.document_number,
            shift_number=self.shift_number,
            receipt_number=self.receipt_number,
            fiscal_datetime=self.fiscal_datetime.isoformat() if self.fiscal_datetime else None,
            total=str(self.total) if self.total is not None else None,
            vat={rate: str(amount) for rate, amount in self.vat.items()},
            offline=self.offline,
        )
        return out


@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored. Timestamps are timezone-aware UTC (stored as epoch milliseconds).

    ``request`` is the canonical body (numbers as strings). ``result`` is what ``complete`` stored (non-integer
    numbers come back as ``Decimal``, never float). ``shift_number`` / ``document_number`` / ``fiscal_sign``
    come from the result of a done job (None otherwise).
    """

    job_id: str
    seq: int
    kind: str
    device_id: str
    scope: str
    priority: Priority
    idempotency_key: str | None
    order_id: str | None
    body_hash: str
    request: dict[str, Any]
    state: JobState
    attempts: int
    deadline: datetime | None
    preflight: PreflightFacts | None
    preflight_at: datetime | None
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    shift_number: int | None
    document_number: int | None
    fiscal_sign: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True, slots=True)
class AcceptOutcome:
    """``replay`` is True when an existing job with the same key/order id and the same body was returned
    instead of inserting a new one (the API marks the response as a replay)."""

    job: Job
    replay: bool

    @property
    def created(self) -> bool:
        return not self.replay


#: ``error_code`` of a job an operator declared failed (``Journal.resolve_by_operator``).
OPERATOR_FAILED = "operator_failed"


@dataclass(frozen=True, slots=True)
class JobNote:
    """One entry of a job's audit trail: a person's decision about it (``Journal.resolve_by_operator``).

    ``action`` is ``resolved_done`` or ``resolved_failed``; ``note`` says why, in the operator's words.
    """

    job_id: str
    created_at: datetime
    author: str
    action: str
    note: str
