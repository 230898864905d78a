"""``DeviceWorker``: the one task that talks to one fiscal device, one job at a time.

Why one task per device: a fiscal printer executes one document at a time and its protocol has no notion
of concurrent sessions, so every command to it goes through this worker (``device_lock`` also serialises
the odd status query from the HTTP layer).

The loop::

    connect (backoff while unreachable; queued jobs whose deadline passes meanwhile fail device_unreachable)
    recover every in_progress job of this device (journal.in_flight): ask the device, decide, then
      complete it (printed), requeue it (not printed), or leave it for an operator (contradictory facts)
    status -> cancel a stray open receipt -> claim the next job with its pre-flight facts, in one durable
      journal transaction (journal.claim_and_preflight: interactive first, then oldest)
    run it:  send the job
      -> complete (done) | device refused: check nothing printed, cancel, fail with the device's code
      | anything else: outcome unknown, job stays in_progress, reconnect and recover (above)

Exactly once rests on three rules: pre-flight facts are fsync'd before the first command of a job; a job
is marked ``failed`` only when the device is known not to have printed it; a job is sent again only after
``recovery.decide`` said nothing was printed. The number of sends per job is bounded by ``max_attempts``
(the journal counts them, so the bound holds across restarts too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from kkm_bridge.driver.api import DeviceStatus, FiscalDevice, FiscalDocument, ShiftState
from kkm_bridge.journal import AsyncJournal, InvalidTransition, Job, JobResult, JobState, NewJob, PreflightFacts

from .errors import (
    CODE_DEVICE_UNREACHABLE,
    CODE_INTERRUPTED,
    CODE_INVALID_REQUEST,
    CODE_RETRIES_EXHAUSTED,
    DeviceUnavailable,
    WorkerStopped,
)
from .failures import refusal_of
from .operations import Operation, Planner, PlanError, default_planner, execute, expectation, result_from_document
from .queue import JobHandle, JobQueue, QueuedJob
from .recovery import SHIFT_KINDS, Action, Decision, Preflight, decide, documents_to_read

__all__ = ["DeviceWorker", "Submission", "WorkerConfig", "WorkerHealth", "WorkerState"]

log = logging.getLogger("kkm_bridge.workers")


@dataclass(frozen=True)
class WorkerConfig:
    """Limits of one worker. Times in seconds."""

    queue_size: int = 100  # waiting jobs before submit raises QueueFull (HTTP 429)
    connect_timeout: float = 5.0  # one connect + first status attempt
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    max_attempts: int = 3  # sends of one job (each after recovery found nothing printed)
    stop_grace: float = 30.0  # how long stop() lets the job in flight finish before cancelling it
    retry_after: float = 1.0  # Retry-After hint for QueueFull


class WorkerState(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"  # the last connection attempt failed, or the link dropped; retrying with backoff
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class WorkerHealth:
    device_id: str
    state: WorkerState
    queued: int
    current_job: str | None
    last_error: str | None
    since: datetime
    parked_jobs: tuple[str, ...] = ()  # in_progress jobs recovery could not decide (need an operator)
    #: False once a connection attempt failed or the link broke, until a connection succeeds again
    #: (so a worker that has not tried yet counts as online).
    online: bool = True


@dataclass(frozen=True)
class Submission:
    """What ``submit`` returns: the job as journalled, whether it is a replay, and its handle.

    For a replay of a finished job the handle is already resolved.
    """

    job: Job
    replay: bool
    handle: JobHandle = field(repr=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Offline(Exception):
    """Internal: the device could not be reached or the link broke; carries the cause."""


@dataclass(frozen=True)
class _Ready:
    """A job claimed together with its pre-flight facts: its operation and the facts recorded."""

    op: Operation
    preflight: Preflight


@dataclass(frozen=True)
class _Done:
    """A job the device finished, with the result to record."""

    job: Job
    result: JobResult
    document_number: int | None


def _preflight(status: DeviceStatus, op: Operation) -> Preflight:
    """The pre-flight facts of a job: the device's status just before it, and what it should produce."""
    expected = expectation(op)
    return Preflight(
        last_document_number=status.last_document_number,
        shift_number=status.shift_number,
        receipt_open=status.receipt_open,
        shift_open=status.shift_state != ShiftState.CLOSED,
        expected_kind=expected.kind if expected else None,
        expected_total=expected.total if expected else None,
    )


class DeviceWorker:
    """Runs the jobs of one device. ``await start()``, ``await submit(NewJob(...))``, ``await stop()``."""

    def __init__(
        self,
        device_id: str,
        device: FiscalDevice,
        journal: AsyncJournal,
        *,
        planner: Planner = default_planner,
        config: WorkerConfig | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.device_id = device_id
        self.device = device
        self.journal = journal
        self.planner = planner
        self.config = config or WorkerConfig()
        self.clock = clock
        self.queue = JobQueue(self.config.queue_size, self.config.retry_after)
        self.device_lock = asyncio.Lock()
        self._handles: dict[str, JobHandle] = {}
        #: Operations built in-process by whoever submitted the job (the HTTP layer validated the receipt
        #: already), by job id: used instead of planning the job again. Only a shortcut: the journalled body
        #: stays the truth, and after a restart (or without an entry) the planner rebuilds from it.
        self._prebuilt: dict[str, Operation] = {}
        self._parked: set[str] = set()
        self._state = WorkerState.NEW
        self._since = clock()
        self._last_error: str | None = None
        self._current: str | None = None
        self._connected = False
        self._reachable = True
        self._needs_recovery = True
        self._accepting = False
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backoff = self.config.backoff_initial
        self._ctx = {"device_id": device_id}
        #: A job the device finished whose ``done`` is written together with the next job's claim (see
        #: ``_claim``); written on its own (``_flush_done``) whenever the worker does anything else.
        self._done_later: _Done | None = None

    # ------------------------------------------------------------------ public

    @property
    def state(self) -> WorkerState:
        return self._state

    @property
    def online(self) -> bool:
        return self._reachable and self._state not in (WorkerState.STOPPING, WorkerState.STOPPED)

    def health(self) -> WorkerHealth:
        return WorkerHealth(
            self.device_id, self._state, len(self.queue), self._current, self._last_error, self._since,
            tuple(sorted(self._parked)), self.online,
        )

    async def start(self) -> None:
        """Load the device's waiting jobs from the journal (accepted before a restart) and start the loop.
        In-flight jobs are recovered by the loop as soon as the device answers."""
        if self._task is not None:
            return
        for job in reversed(await self.journal.list_jobs(device_id=self.device_id, state=JobState.ACCEPTED,
                                                         limit=1000)):
            self.queue.put(QueuedJob.from_job(job), force=True)
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name=f"device-worker-{self.device_id}")
        log.info("worker %s: started (%d jobs waiting)", self.device_id, len(self.queue), extra=self._ctx)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting jobs, let the job in flight finish (up to ``grace`` seconds), close the device.

        Waiting jobs stay ``accepted`` in the journal and run after the next start. A job cut off by the
        grace period stays ``in_progress`` and is recovered after the next start, like after a crash.
        """
        self._accepting = False
        self._stopping = True
        self._set_state(WorkerState.STOPPING)
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=self.config.stop_grace if grace is None else grace)
            if not done:
                log.warning("worker %s: job in flight did not finish in time; cancelling (recovered on next "
                            "start)", self.device_id, extra={**self._ctx, "job_id": self._current})
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            elif not task.cancelled() and task.exception() is not None:
                log.error("worker %s: loop ended with %r", self.device_id, task.exception(), extra=self._ctx)
        try:
            await self._flush_done()
        except Exception:  # noqa: BLE001 - the job stays in_progress; recovery finds its document next start
            log.exception("worker %s: could not record a finished job", self.device_id, extra=self._ctx)
        await self._close_device()
        self._set_state(WorkerState.STOPPED)

    async def submit(
        self, new_job: NewJob, *, require_online: bool = False, plan: Operation | None = None,
        durable: bool = True,
    ) -> Submission:
        """Journal a job for this device and queue it. Returns at once; await ``submission.handle.wait()``
        for the result (synchronous callers) or do not (asynchronous ones).

        ``durable=False`` lets the accepted record wait for the journal's next fsync instead of taking one
        of its own (``Journal.accept``): for a caller that reports nothing about the job until it has
        finished (a synchronous request). The record is still on disk before the device is touched: the
        job's claim is a durable commit of the same log, which syncs every record written before it.

        ``plan``: the operation the caller already built from exactly the body it journals (what the planner
        would make of it); used for this newly accepted job instead of planning it again. Ignored for a
        replay (the existing job is planned from its journalled body).

        Raises ``QueueFull`` (nothing journalled), ``DeviceUnavailable`` when ``require_online`` and the device
        is offline (nothing journalled), ``WorkerStopped``, and the journal's ``DuplicateConflict``.
        """
        if not self._accepting:
            raise WorkerStopped(f"worker for {self.device_id} is not accepting jobs")
        if new_job.device_id != self.device_id:
            raise ValueError(f"job for device {new_job.device_id!r} submitted to worker {self.device_id!r}")
        if require_online and not self.online:
            raise DeviceUnavailable(self.device_id, self._last_error or "offline", self.config.backoff_max)
        self.queue.reserve()
        try:
            outcome = await self.journal.accept(new_job, durable=durable)
        except BaseException:
            self.queue.release()
            raise
        job = outcome.job
        if job.state == JobState.ACCEPTED:
            if plan is not None and not outcome.replay and job.job_id == new_job.job_id:
                self._prebuilt[job.job_id] = plan
            self.queue.put(QueuedJob.from_job(job), reserved=True)
        else:
            self.queue.release()
        handle = self.handle(job)
        if outcome.replay and not job.is_terminal:
            # The replay's snapshot may be stale: the job can have finished (recovery, the job in flight)
            # between the journal's answer and the handle's registration, and its finish resolved no handle
            # then. Now that the handle is registered, a finish from here on resolves it; one before shows
            # in the journal.
            current = await self.journal.get(job.job_id)
            if current.is_terminal and not handle.done:
                self._handles.pop(job.job_id, None)
                handle._resolve(current)
        # Per-job INFO lines: their arguments and extras are only built when INFO is on.
        if log.isEnabledFor(logging.INFO):
            log.info("worker %s: %s job %s (%s, priority %s)", self.device_id,
                     "replayed" if outcome.replay else "queued", job.job_id, job.kind, job.priority.name.lower(),
                     extra={**self._ctx, "job_id": job.job_id})
        return Submission(job, outcome.replay, handle)

    def handle(self, job: Job) -> JobHandle:
        """The handle of a job of this device (resolved already if the job is terminal)."""
        existing = self._handles.get(job.job_id)
        if existing is not None:
            return existing
        handle = JobHandle(job.job_id)
        if job.is_terminal:
            handle._resolve(job)
        else:
            self._handles[job.job_id] = handle
        return handle

    async def device_status(self, timeout: float | None = None) -> DeviceStatus:
        """Ask the device for its status between jobs (``GET /device/status``).

        ``DeviceUnavailable`` if it is offline or does not answer; ``TimeoutError`` if it stays busy with
        a job for ``timeout`` seconds (busy is not unreachable)."""
        if not self._connected:
            raise DeviceUnavailable(self.device_id, self._last_error or "not connected", self.config.backoff_max)
        end = None if timeout is None else asyncio.get_running_loop().time() + timeout
        async with asyncio.timeout_at(end):
            await self.device_lock.acquire()
        try:
            async with asyncio.timeout_at(end):
                return await self.device.status()
        except Exception as exc:  # including TimeoutError: the device itself did not answer in time
            if refusal_of(exc) is not None:
                raise
            raise DeviceUnavailable(self.device_id, repr(exc), self.config.backoff_max) from exc
        finally:
            self.device_lock.release()

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        while not self._stopping:
            try:
                async with self.device_lock:
                    await self._ensure_ready()
                    if self._stopping:
                        break
                    job, ready = await self._claim()
                    await self._settle_expired()
                    if job is not None:
                        self.queue.remove(job.job_id)
                        await self._run_job(job, ready)
                        continue
                await self._settle_queue()
                if not self.queue:
                    await self._idle()
            except asyncio.CancelledError:
                raise
            except _Offline as exc:
                await self._went_offline(exc.__cause__ or exc)
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything; the cause is logged
                log.exception("worker %s: unexpected error; reconnecting", self.device_id, extra=self._ctx)
                await self._went_offline(exc)
        await self._flush_done()

    async def _idle(self) -> None:
        """Wait until a job is queued or stop() is called."""
        self._wake.clear()
        if self._stopping:  # stop() may have run while this task was busy: do not sleep through it
            return
        waiter = asyncio.create_task(self.queue.wait_not_empty())
        stopper = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()

    async def _ensure_ready(self) -> None:
        if not self._connected:
            self._set_state(WorkerState.CONNECTING)
            try:
                async with asyncio.timeout(self.config.connect_timeout):
                    await self.device.connect()
                    await self.device.status()
            except Exception as exc:
                raise _Offline("connect failed") from exc
            self._connected = True
            self._reachable = True
            self._backoff = self.config.backoff_initial
            self._last_error = None
            log.info("worker %s: device online", self.device_id, extra=self._ctx)
        self._set_state(WorkerState.ONLINE)
        if self._needs_recovery:
            await self._flush_done()
            for job in await self.journal.in_flight(self.device_id):
                if job.job_id not in self._parked:
                    await self._recover(job)
            self._needs_recovery = False

    async def _went_offline(self, exc: BaseException) -> None:
        try:
            await self._flush_done()  # before recovery looks at in_progress jobs
        except Exception:  # noqa: BLE001 - the job stays in_progress; recovery finds its document
            log.exception("worker %s: could not record a finished job; recovery will", self.device_id,
                          extra=self._ctx)
            self._done_later = None
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._reachable = False
        self._needs_recovery = True
        if self._connected:
            log.warning("worker %s: device link lost (%s)", self.device_id, self._last_error, extra=self._ctx)
        self._connected = False
        await self._close_device()
        if self._stopping:
            return
        self._set_state(WorkerState.OFFLINE)
        delay = self._backoff
        self._backoff = min(self.config.backoff_max, self._backoff * 2)
        await self._fail_overdue_waiting()
        self._wake.clear()
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _close_device(self) -> None:
        self._connected = False
        try:
            await self.device.close()
        except Exception:  # noqa: BLE001 - closing a broken link may fail; nothing to do about it
            log.debug("worker %s: close failed", self.device_id, exc_info=True, extra=self._ctx)

    def _set_state(self, state: WorkerState) -> None:
        if self._state != state:
            if self._state in (WorkerState.STOPPING, WorkerState.STOPPED) and state != WorkerState.STOPPED:
                return
            self._state = state
            self._since = self.clock()

    # ------------------------------------------------------------------ queue bookkeeping

    def _plan(self, job: Job) -> Operation:
        """The job's operation: the one built at submission if any, else the planner's from the journal."""
        op = self._prebuilt.get(job.job_id)
        return op if op is not None else self.planner(job)

    def _finish(self, job: Job) -> None:
        self._prebuilt.pop(job.job_id, None)
        self.queue.remove(job.job_id)
        self._parked.discard(job.job_id)
        handle = self._handles.pop(job.job_id, None)
        if handle is not None:
            handle._resolve(job)

    async def _settle_expired(self) -> None:
        """``claim_next`` fails accepted jobs whose deadline passed; resolve their handles."""
        now = self.clock()
        for entry in list(self.queue):
            if entry.deadline is not None and entry.deadline <= now:
                job = await self.journal.get(entry.job_id)
                if job.state != JobState.ACCEPTED:
                    self.queue.remove(job.job_id)
                    if job.is_terminal:
                        self._finish(job)

    async def _settle_queue(self) -> None:
        """The queue should mirror the journal's accepted jobs; drop entries that are not accepted any more."""
        for entry in list(self.queue):
            job = await self.journal.get(entry.job_id)
            if job.state != JobState.ACCEPTED:
                self.queue.remove(job.job_id)
                if job.is_terminal:
                    self._finish(job)

    async def _fail_overdue_waiting(self) -> None:
        """While the device is unreachable, waiting jobs past their deadline fail ``device_unreachable``
        (they never touched the device, so failing them is safe; a sync caller gets its 503)."""
        now = self.clock()
        for entry in list(self.queue):
            if entry.deadline is not None and entry.deadline <= now:
                try:
                    job = await self.journal.fail(
                        entry.job_id, CODE_DEVICE_UNREACHABLE,
                        f"device {self.device_id} unreachable until the deadline: {self._last_error}",
                    )
                except InvalidTransition:
                    job = await self.journal.get(entry.job_id)
                self.queue.remove(entry.job_id)
                if job.is_terminal:
                    self._finish(job)

    # ------------------------------------------------------------------ one job

    async def _claim(self) -> tuple[Job | None, _Ready | None]:
        """The next job, claimed. With jobs waiting, the device is asked for its state first and the job is
        claimed together with its pre-flight facts (``claim_and_preflight``: one journal transaction, one
        fsync); the job comes back ``_Ready`` to send. Otherwise (nothing waiting, or the status query was
        refused) a plain claim, and ``_run_job`` asks the device itself.

        Why asking first is as safe as claiming first: nothing reaches the device between this status and
        the job's first command (this task holds ``device_lock``, the driver talks to the device only on
        our behalf), so the facts are the device's state just before the job, as confirmed by the device.
        They are durable before the first command goes out. A status that fails before any claim leaves
        nothing to undo (before, the claimed job had to be requeued).
        """
        if not self.queue:
            await self._flush_done()
            return await self.journal.claim_next(self.device_id), None
        try:
            status = await self._ready_status(None)
        except Exception as exc:
            await self._flush_done()
            if refusal_of(exc) is None:
                raise _Offline("status before job") from exc
            # The device refuses to report its state: claim the job the ordinary way; ``_run_job`` asks
            # again and fails the job with the device's error (nothing of it was sent).
            return await self.journal.claim_next(self.device_id), None
        planned: dict[str, _Ready | BaseException] = {}

        def facts_for(job: Job) -> PreflightFacts | None:
            # Runs in the journal's thread, inside its write transaction: planning is pure and quick.
            try:
                op = self._plan(job)
            except Exception as exc:  # PlanError (fail the job), or a planner bug (re-raised below)
                planned["error"] = exc
                return None
            ready = _Ready(op, _preflight(status, op))
            planned["ready"] = ready
            return ready.preflight.to_facts()

        finished = self._done_later
        if finished is None:
            job = await self.journal.claim_and_preflight(self.device_id, facts_for)
        else:
            # The previous job's done and this job's claim in one transaction: one fsync for both.
            done, job = await self.journal.complete_and_claim(finished.job.job_id, finished.result,
                                                              self.device_id, facts_for)
            self._done_later = None
            self._log_done(done, finished.document_number)
            self._finish(done)
        ready = planned.get("ready")
        # A job that could not be planned is claimed without facts: ``_run_job`` plans it again and fails it
        # (PlanError), or the planner's bug surfaces there as it always did.
        return job, ready if job is not None and isinstance(ready, _Ready) else None

    async def _ready_status(self, job: Job | None) -> DeviceStatus:
        """The device's status before a job, with a stray open receipt cancelled first."""
        status = await self.device.status()
        if status.receipt_open:
            log.warning("worker %s: cancelling a receipt left open on the device before %s", self.device_id,
                        f"job {job.job_id}" if job is not None else "the next job",
                        extra={**self._ctx, "job_id": job.job_id} if job is not None else self._ctx)
            await self.device.cancel_receipt()
            status = await self.device.status()
        return status

    async def _run_job(self, job: Job, ready: _Ready | None = None) -> None:
        ctx = {**self._ctx, "job_id": job.job_id}
        if ready is None:
            try:
                op = self._plan(job)
            except PlanError as exc:
                log.warning("worker %s: job %s cannot be executed: %s", self.device_id, job.job_id, exc, extra=ctx)
                self._finish(await self.journal.fail(job.job_id, CODE_INVALID_REQUEST, str(exc)))
                return
        else:
            op = ready.op
        self._current = job.job_id
        try:
            if ready is None:
                try:
                    status = await self._ready_status(job)
                except Exception as exc:
                    refusal = refusal_of(exc)
                    if refusal is None:
                        # Nothing of this job was sent: put it back in the queue at once, so that its deadline
                        # keeps counting there (device_unreachable) instead of waiting for recovery.
                        await self._requeue(job)
                        raise _Offline("status before job") from exc
                    # Nothing of this job was sent: failing it is safe.
                    self._finish(await self.journal.fail(job.job_id, refusal.error_code, refusal.error_message))
                    return
                preflight = _preflight(status, op)
                await self.journal.record_preflight(job.job_id, preflight.to_facts())
            else:
                preflight = ready.preflight
            if log.isEnabledFor(logging.INFO):
                log.info("worker %s: sending job %s (%s, attempt %d, last document %s)", self.device_id, job.job_id,
                         job.kind, job.attempts, preflight.last_document_number, extra=ctx)
            try:
                outcome = await execute(op, self.device)
            except Exception as exc:
                refusal = refusal_of(exc)
                if refusal is None:
                    log.warning("worker %s: job %s outcome unknown (%r); will ask the device", self.device_id,
                                job.job_id, exc, extra=ctx)
                    raise _Offline("job outcome unknown") from exc
                await self._after_refusal(job, op, preflight, refusal.error_code, refusal.error_message)
                return
            finished = _Done(job, result_from_document(op, outcome.document, outcome.extra),
                             outcome.document.number if outcome.document else None)
            self._done_later = finished  # recorded with the next job's claim (``_claim``) if one is waiting
            if not self.queue or self._stopping:
                await self._flush_done()
        finally:
            self._current = None

    async def _flush_done(self) -> None:
        """Record the finished job that waits for the next claim, on its own."""
        finished = self._done_later
        if finished is None:
            return
        done = await self.journal.complete(finished.job.job_id, finished.result)
        self._done_later = None
        self._log_done(done, finished.document_number)
        self._finish(done)

    def _log_done(self, job: Job, document_number: int | None) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("worker %s: job %s done (document %s)", self.device_id, job.job_id, document_number,
                     extra={**self._ctx, "job_id": job.job_id})

    async def _after_refusal(self, job: Job, op: Operation, preflight: Preflight, code: str, message: str) -> None:
        ctx = {**self._ctx, "job_id": job.job_id}
        try:
            decision, status = await self._ask_device(preflight)
        except Exception as exc:
            raise _Offline("checking after a refusal") from exc
        if decision.action == Action.DONE:
            # The device complained after the document was committed (e.g. a cutter error): it printed.
            await self._complete_recovered(job, op, decision, ctx)
            return
        if decision.action == Action.MANUAL:
            self._park(job, decision, ctx)
            return
        if status.receipt_open:
            try:
                await self.device.cancel_receipt()
            except Exception as exc:
                raise _Offline("cancelling after a refusal") from exc
        log.info("worker %s: job %s refused by the device: %s %s", self.device_id, job.job_id, code, message,
                 extra=ctx)
        self._finish(await self.journal.fail(job.job_id, code, message))

    # ------------------------------------------------------------------ recovery

    async def _ask_device(self, preflight: Preflight | None) -> tuple[Decision, DeviceStatus]:
        status = await self.device.status()
        documents: list[FiscalDocument] = []
        for number in documents_to_read(preflight, status):
            document = await self.device.read_document(number)
            documents.append(document)
            if preflight is not None and (
                document.kind not in SHIFT_KINDS or document.kind == preflight.expected_kind
            ):
                break  # decide() needs nothing after the first document that could be the job's
        return decide(preflight, status, documents), status

    async def _recover(self, job: Job) -> None:
        """Resolve one ``in_progress`` job found at (re)connection: ask the device what it did."""
        ctx = {**self._ctx, "job_id": job.job_id}
        preflight = Preflight.from_facts(job.preflight) if job.preflight is not None else None
        try:
            op: Operation | None = self.planner(job)
        except PlanError:
            op = None
        if preflight is None:
            log.info("worker %s: job %s was claimed but never sent; requeueing", self.device_id, job.job_id,
                     extra=ctx)
            await self._requeue(job)
            return
        decision, status = await self._ask_device(preflight)
        log.info("worker %s: recovery of job %s: %s (%s)", self.device_id, job.job_id, decision.action,
                 decision.reason, extra=ctx)
        if decision.action == Action.DONE:
            await self._complete_recovered(job, op, decision, ctx)
            return
        if decision.action == Action.MANUAL:
            self._park(job, decision, ctx)
            return
        if decision.action == Action.CANCEL_THEN_RETRY or status.receipt_open:
            await self.device.cancel_receipt()
        if preflight.expected_kind is None:
            # No fiscal document involved: "failed" is truthful, and re-running a report or a text print
            # unasked could surprise the cashier more than an error does.
            self._finish(await self.journal.fail(job.job_id, CODE_INTERRUPTED,
                                                 "the operation was cut off; run it again if needed"))
            return
        if job.attempts >= self.config.max_attempts:
            self._finish(await self.journal.fail(
                job.job_id, CODE_RETRIES_EXHAUSTED,
                f"{job.attempts} attempts broke off before the device finished; nothing was printed"))
            return
        await self._requeue(job)

    async def _requeue(self, job: Job) -> None:
        requeued = await self.journal.requeue(job.job_id)
        self.queue.put(QueuedJob.from_job(requeued), force=True)

    async def _complete_recovered(self, job: Job, op: Operation | None, decision: Decision,
                                  ctx: dict[str, str]) -> None:
        assert decision.document is not None
        result = result_from_document(op, decision.document, recovered=True)
        done = await self.journal.complete(job.job_id, result)
        log.info("worker %s: job %s recovered from the device: document %d", self.device_id, job.job_id,
                 decision.document.number, extra=ctx)
        self._finish(done)

    def _park(self, job: Job, decision: Decision, ctx: dict[str, str]) -> None:
        """Leave a job ``in_progress`` for an operator: printing again could duplicate it, failing it could
        lose a printed sale. The worker goes on with other jobs; the next start looks at it again."""
        self._parked.add(job.job_id)
        log.error("worker %s: job %s needs an operator: %s", self.device_id, job.job_id, decision.reason, extra=ctx)
