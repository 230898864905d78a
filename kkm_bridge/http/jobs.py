"""Submitting a journalled job from a request and turning the job back into an answer.

Shared by every route that makes the device do something (checks, shifts, reports, cash): the order of
steps is the same everywhere and matters for exactly-once:

1. the body is fully validated before anything is written (bad input: nothing journalled, nothing printed);
2. the job is journalled (``DeviceManager.submit`` -> ``Journal.accept``, fsync'd) before the worker can
   touch the device; a reused idempotency key or order id is a replay or a 409 right there;
3. synchronous callers wait for the job up to ``limits.sync_timeout``, asynchronous ones get 202 and the
   status URL. A synchronous caller that times out gets 503 ``device_timeout``: the job stays queued (jobs
   carry no deadline), so the retry with the same idempotency key finds it, waits again, and returns the
   one printed check. An unreachable device is refused before anything is journalled (503).

Retrying a failed job: ``failed`` promises nothing was printed (the device refused, e.g. no paper, or the
job never reached it). The same key with the same body re-runs such a job (``Journal.requeue``) instead of
replaying the failure forever, so "fix the printer, send the same request again" works; a job that failed
because its body cannot be executed (``invalid_request``) is answered with its failure again.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from kkm_bridge.journal import DuplicateConflict, InvalidTransition, Job, JobState, NewJob, Priority
from kkm_bridge.workers.operations import Operation
from kkm_bridge.workers.worker import Submission
from kkm_bridge.workers.errors import (
    CODE_INVALID_REQUEST,
    DeviceUnavailable,
    QueueFull,
    UnknownDevice,
    WorkerStopped,
    is_refusal_code,
)

from .errors import ApiError, from_duplicate
from .security import CHECK_ID
from .services import Cashbox, Services

__all__ = ["Submitted", "failure_error", "idempotency_key", "new_job_id", "prefers_async", "submit"]

log = logging.getLogger("kkm_bridge.http")

_DEVICE_CODE = re.compile(r"^\[0x([0-9A-Fa-f]+)\]\s*")


def new_job_id(prefix: str = "CHK") -> str:
    """128 random bits (32 hex digits, as a uuid4's were): the id doubles as the capability in the public QR
    image URL. ``secrets`` reads the same OS randomness as ``uuid4`` without building a ``UUID``."""
    return f"{prefix}{secrets.token_hex(16).upper()}"


def prefers_async(request: web.Request, body_async: bool) -> bool:
    prefer = request.headers.get("Prefer", "")
    return body_async or any(part.strip().lower() == "respond-async" for part in prefer.split(","))


def idempotency_key(request: web.Request, body_key: str | None) -> str | None:
    header = request.headers.get("Idempotency-Key")
    if header is not None:
        header = header.strip()
        if not header or len(header) > 128 or not header.isprintable() or not header.isascii():
            raise ApiError(400, "invalid_field", "Idempotency-Key must be 1-128 printable ASCII characters")
        if body_key is not None and body_key != header:
            raise ApiError(400, "conflicting_fields", "Idempotency-Key header and idempotency_key differ")
        return header
    return body_key


@dataclass(frozen=True)
class Submitted:
    """A journalled job (in sync mode: terminal) and whether the request was a replay of it."""

    job: Job
    replay: bool


async def submit(
    request: web.Request,
    services: Services,
    box: Cashbox,
    *,
    kind: str,
    body: dict[str, Any],
    key: str | None,
    order_id: str | None = None,
    run_async: bool,
    prefix: str,
    plan: Operation | None = None,
) -> Submitted:
    """Journal and queue a job; in sync mode wait for it to finish. Errors become ``ApiError`` s.

    ``plan``: the device operation already built from ``body`` (a validated receipt), passed to the worker
    in-process; the worker rebuilds it from the journalled body when it has none (after a restart).
    """
    if services.stopping:
        raise ApiError(503, "shutting_down", "the daemon is shutting down", headers={"Retry-After": "5"})
    timeout = services.config.limits.sync_timeout
    job_id = new_job_id(prefix)
    new = NewJob(
        kind=kind, device_id=box.device_id, request=body,
        priority=Priority.BACKGROUND if run_async else Priority.INTERACTIVE,
        idempotency_key=key, order_id=order_id, scope=box.fiscal_id, job_id=job_id,
    )
    request[CHECK_ID] = job_id
    submission = await _submit(services, new, run_async, plan)
    failed = submission.job
    if submission.replay and failed.state == JobState.FAILED and failed.error_code != CODE_INVALID_REQUEST:
        log.info("retrying failed job %s (%s)", failed.job_id, failed.error_code,
                 extra={"check_id": failed.job_id, "device_id": box.device_id})
        try:
            await services.journal.requeue(failed.job_id)
        except InvalidTransition:
            pass  # another retry of the same key got there first; the resubmission below finds its job
        submission = await _submit(services, new, run_async)
    job = submission.job
    request[CHECK_ID] = job.job_id
    # The access log line carries the check id and the worker logs the queued job: a new job is a DEBUG line
    # here, a replay (rare, and worth seeing) an INFO one.
    level = logging.INFO if submission.replay else logging.DEBUG
    if log.isEnabledFor(level):
        log.log(level, "%s %s job %s", kind, "replayed" if submission.replay else "accepted", job.job_id,
                extra={"check_id": job.job_id, "device_id": box.device_id, "replay": submission.replay})
    if run_async or job.is_terminal:
        return Submitted(job, submission.replay)
    try:
        job = await submission.handle.wait(timeout)
    except TimeoutError:
        raise ApiError(
            503, "device_timeout",
            f"the device did not finish in {timeout:g} s; the job stays queued: poll its status or retry with "
            "the same idempotency key", headers={"Retry-After": "5"}, fiscal_check_id=job.job_id,
        ) from None
    return Submitted(job, submission.replay)


async def _submit(services: Services, new: NewJob, run_async: bool, plan: Operation | None = None) -> Submission:
    try:
        # A synchronous request answers only once the job has finished, and its job is claimed (a durable
        # commit, which syncs this record too) before the device is touched: its accept needs no fsync of
        # its own. A 202 reports the job as accepted, so an asynchronous accept is durable at once.
        return await services.manager.submit(new, require_online=not run_async, plan=plan, durable=run_async)
    except DuplicateConflict as exc:
        raise from_duplicate(exc) from None
    except QueueFull as exc:
        retry = str(max(1, round(exc.retry_after)))
        raise ApiError(429, "queue_full", "Check limit exceeded: the device queue is full; retry later",
                       headers={"Retry-After": retry}) from None
    except DeviceUnavailable as exc:
        raise unavailable(exc.reason, exc.retry_after) from None
    except (WorkerStopped, UnknownDevice) as exc:
        raise ApiError(503, "device_unavailable", str(exc), headers={"Retry-After": "5"}) from None


def unavailable(reason: str, retry_after: float) -> ApiError:
    return ApiError(503, "device_unavailable", f"the fiscal device is unreachable: {reason}",
                    headers={"Retry-After": str(max(1, round(retry_after)))})


def failure_error(job: Job) -> ApiError:
    """The answer for a failed job: 422 when the device refused, 400 for a bad body, 503 otherwise."""
    code = job.error_code or "failed"
    message = job.error_message or "the operation failed"
    if is_refusal_code(code):
        match = _DEVICE_CODE.match(message)
        device_code = int(match.group(1), 16) if match else None
        return ApiError(
            422, "device_refused", message[match.end():] if match else message,
            device_code=device_code, device_error=code.split(":", 1)[1], fiscal_check_id=job.job_id,
        )
    if code == CODE_INVALID_REQUEST:
        return ApiError(400, "invalid_request", message, fiscal_check_id=job.job_id)
    return ApiError(503, code, message, headers={"Retry-After": "5"}, fiscal_check_id=job.job_id)


def major(value: Any) -> str | None:
    """A stored amount (Decimal or str, major units) as the 2-decimal text clients print."""
    if value is None:
        return None
    return f"{Decimal(str(value)):.2f}"


def state_of(job: Job) -> str:
    return JobState(job.state).value
