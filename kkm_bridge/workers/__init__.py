"""Device workers: one queue and one task per fiscal device, with exactly-once recovery.

How the HTTP layer uses this package (see ``manager`` for a runnable sketch):

* ``DeviceManager(journal)``, ``manager.add(device_id, device)``, ``await manager.start()``; on SIGTERM
  ``await manager.stop()`` (stop accepting, finish the job in flight, close the devices).
* ``sub = await manager.submit(NewJob(...), require_online=sync)``: journals the job (idempotency replays
  included: ``sub.replay``) and queues it. Interactive jobs (``Priority.INTERACTIVE``) run before waiting
  background ones (``Priority.BACKGROUND``: online orders, ``Prefer: respond-async``).
  Raises ``QueueFull`` -> 429 + Retry-After, ``DeviceUnavailable`` (only with ``require_online``) -> 503 +
  Retry-After, ``DuplicateConflict`` (journal) -> 409, ``UnknownDevice`` -> 404, ``WorkerStopped`` -> 503.
* Sync mode: ``job = await sub.handle.wait(timeout)`` -> the terminal job from the journal:
  ``done`` -> 200 with ``job.result``; ``failed`` with ``is_refusal_code(job.error_code)`` -> 422 (the message
  starts with the device code, ``[0x67] ...``); ``failed`` with ``device_unreachable`` /
  ``deadline_expired`` / ``retries_exhausted`` -> 503; ``invalid_request`` -> 400. ``TimeoutError``: the job
  is still queued or its outcome is not known yet (the device went away mid-receipt): 503 if
  ``not worker.online`` else 202, with the job id; it is never failed while it might have printed.
* Async mode: answer 202 with ``sub.job.job_id``; ``journal.get(job_id)`` gives its state later.
* Status and health: ``manager.health()`` (per device: state, online, queued, current job, last error, jobs
  parked for an operator); ``await manager.worker(id).device_status(timeout)`` asks the device between
  jobs (``DeviceUnavailable`` if it does not answer, ``TimeoutError`` if it stays busy printing).
* Deadlines (``NewJob.deadline``): a job not started by then fails (``deadline_expired``, or
  ``device_unreachable`` when the device was offline meanwhile); a started job is never failed by it.

Modules: ``queue`` (bounded priority queue + handles), ``worker`` (``DeviceWorker``), ``recovery`` (pure
``decide``), ``operations`` (job -> device operation -> journal result), ``failures`` (refusal or unknown
outcome), ``manager`` (``DeviceManager``), ``errors``.
"""

from __future__ import annotations

from .errors import (
    CODE_DEADLINE_EXPIRED,
    CODE_DEVICE_UNREACHABLE,
    CODE_INTERRUPTED,
    CODE_INVALID_REQUEST,
    CODE_RETRIES_EXHAUSTED,
    REFUSAL_PREFIX,
    DeviceUnavailable,
    QueueFull,
    UnknownDevice,
    WorkerError,
    WorkerStopped,
    is_refusal_code,
)
from .manager import DeviceManager
from .operations import Operation, Planner, PlanError, default_planner
from .queue import JobHandle, JobQueue, QueuedJob
from .recovery import Action, Decision, Preflight, decide
from .worker import DeviceWorker, Submission, WorkerConfig, WorkerHealth, WorkerState

__all__ = [
    "Action", "CODE_DEADLINE_EXPIRED", "CODE_DEVICE_UNREACHABLE", "CODE_INTERRUPTED", "CODE_INVALID_REQUEST",
    "CODE_RETRIES_EXHAUSTED", "Decision", "DeviceManager", "DeviceUnavailable", "DeviceWorker", "JobHandle",
    "JobQueue", "Operation", "PlanError", "Planner", "Preflight", "QueueFull", "QueuedJob", "REFUSAL_PREFIX",
    "Submission", "UnknownDevice", "WorkerConfig", "WorkerError", "WorkerHealth", "WorkerState", "WorkerStopped",
    "decide", "default_planner", "is_refusal_code",
]
