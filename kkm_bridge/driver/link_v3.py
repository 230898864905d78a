"""The host side of ATOL transport v3 over any `Transport`: frames, task buffer, retries, pipelining.

Rules this client follows (reference §1.1-1.4):

- Packet ids 0x00..0xDF, wrapping; task ids the same. The device answers with the packet id it was
  sent; results of tasks queued with NEED_RESULT arrive later in frames with id F0 (`A6`/`A7 tid`).
- An empty frame from the device asks us to resend that packet. A corrupt frame is answered with an
  empty frame of its id (asking the device to resend) - but only when that is safe, see
  `_on_corrupt`; otherwise the retransmission timer recovers.
- Every request is safe to repeat, which is what makes recovery simple: a retransmitted ADD is
  answered `B2` (already queued) instead of being executed twice; REQ/ACK/ABORT are idempotent.
  So a missing synchronous status is handled by resending the same frame after a short silence,
  and a missing result by polling the task with REQ. Both are bounded (`Timeouts`).
- After a result is taken the task is ACKed, which frees its slot in the device's task buffer. A
  pipeline that fits in the window may hold its ACKs to the end and release its finished tasks with one
  ABORT instead (`run_pipeline(release=...)`): every result is taken by then, so nothing is cancelled.
- `open()` sends ABORT: the buffer of a previous session is cleared.

Pipelining (`run_pipeline`): the commands of one operation are queued without waiting for each reply,
within a window no larger than the device's buffer, then results are taken in order. On the first
failure nothing more is sent, the failed task is *not* ACKed (so the device refuses the tasks queued
after it with A5 STOPPED), and the buffer is cleared with ABORT. A step marked `barrier` (the close of
a receipt: the only command that commits a fiscal document) is sent only once every step before it
has succeeded, so a device that does not stop after an error still cannot commit a wrong receipt.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from protocols.atol.v3 import ASYNC_PACKET_ID, Frame, FrameDecoder, FrameError, encode_frame
from protocols.atol.v3_buffer import (
    Abort,
    Ack,
    Add,
    AddFlags,
    HostMessage,
    Req,
    TaskState,
    TaskStatus,
    decode_device,
    encode_host,
)
from protocols.errors import ProtocolError

from kkm_bridge.driver.errors import DeviceUnreachable, LinkTimeout, ProtocolFailure, TaskLost
from kkm_bridge.driver.logctx import with_context
from kkm_bridge.driver.timeouts import DEFAULT_TIMEOUTS, Timeouts
from kkm_bridge.transports import Transport, TransportError, deadline_in

logger = logging.getLogger(__name__)

def _loop_time() -> float:
    return asyncio.get_running_loop().time()


async def _settled(future: asyncio.Future[Any], timeout: float) -> bool:
    """Wait until `future` is done or `timeout` seconds pass; whether it is done. Never cancels it.

    `asyncio.wait({future}, timeout=...)` without its per-call sets and bookkeeping: this runs for
    every frame the link sends.
    """
    if future.done():
        return True
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(timeout, wake)
    future.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(wake)
    return future.done()


#: How `run_pipeline` frees the task buffer: "ack" each result as taken, or hold the ACKs and release the
#: finished tasks at the end with one "abort" or with the held ACKs ("ack_at_end").
Release = Literal["ack", "abort", "ack_at_end"]
MAX_ID = 0xDF  # packet and task ids run 0x00..0xDF (atol4j), F0 is the device's async id
_RUNNING = (TaskState.PENDING, TaskState.IN_PROGRESS, TaskState.WAITING)
# Enum members used per task, as module globals (`TaskState.X` is a descriptor lookup each time).
_OK_STATES = (TaskState.RESULT, TaskState.ASYNC_RESULT)
_STOPPED = TaskState.STOPPED
_NEED_RESULT = AddFlags.NEED_RESULT
_ABORT = Abort()  # frozen, no fields: one instance serves every ABORT


@dataclass
class LinkStats:
    """Counters for logs, tests and the benchmark."""

    bytes_out: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    frames_in: int = 0
    corrupt_in: int = 0
    retransmits: int = 0
    resend_requests_in: int = 0  # empty frames from the device
    resend_requests_out: int = 0  # empty frames we sent
    polls: int = 0
    tasks: int = 0
    overflows: int = 0


@dataclass
class TaskResult:
    """A finished task: `ok` is the transport-level outcome (A3/A6 vs A4/A7/A5)."""

    tid: int
    state: TaskState
    payload: bytes

    @property
    def ok(self) -> bool:
        return self.state in _OK_STATES

    @property
    def stopped(self) -> bool:
        return self.state is _STOPPED


@dataclass
class PipelineStep:
    """One command of a pipelined operation."""

    name: str
    payload: bytes  # application payload: <password:2> <code> <params>
    timeout: float  # result timeout (T5)
    barrier: bool = False  # send only after every earlier step succeeded

    @property
    def command(self) -> int:
        return self.payload[2] if len(self.payload) > 2 else 0


class PipelineFailed(Exception):
    """Step `index` of a pipeline did not succeed; `results` holds the successful ones before it.

    `tainted`: some ADD of the pipeline had to be sent again, so the device may have executed the
    tasks in another order than queued - the failure may be an artefact of the link, not a refusal.
    """

    def __init__(
        self, index: int, step: PipelineStep, result: TaskResult, results: list[TaskResult], tainted: bool = False
    ) -> None:
        super().__init__(f"pipeline step {index} ({step.name}) ended {result.state.name}")
        self.index = index
        self.step = step
        self.result = result
        self.results = results
        self.tainted = tainted


class PipelineReordered(Exception):
    """A barrier step was not sent because the tasks before it may have run out of order.

    Why this can happen: the device executes a task when its ADD arrives. If one ADD frame is lost
    and sent again, the tasks queued after it have already run: the device's receipt may hold the
    items in another order than intended. Nothing was committed (the barrier was held back); the
    caller cancels the receipt and runs the operation again.
    """

    def __init__(self, index: int) -> None:
        super().__init__(f"pipeline may have run out of order before step {index}")
        self.index = index


_LABELS: dict[type, str] = {Add: "ADD", Ack: "ACK", Req: "REQ", Abort: "ABORT"}


@dataclass(slots=True)
class _Pending:
    """A frame that expects a synchronous answer with its packet id."""

    pid: int
    frame: bytes
    message: HostMessage
    future: asyncio.Future[TaskStatus]
    sent_at: float = 0.0
    attempts: int = 1
    seq: int = 0  # creation order (the device answers in this order)
    overtaken: bool = False  # a later ADD was sent while this one was unanswered
    give_up_at: float = 0.0  # the watchdog may give up on it (retries spent) only from this time on
    resend: asyncio.Task[None] | None = None  # a retransmission being written
    name: str = ""  # the command an ADD carries

    @property
    def what(self) -> str:
        """For logs and errors ("ADD 05 close receipt"); built only when one is written."""
        message = self.message
        label = _LABELS.get(type(message), type(message).__name__)
        if isinstance(message, Add):
            return f"{label} {message.tid:02X} {self.name}"
        tid = getattr(message, "tid", None)
        return label if tid is None else f"{label} {tid:02X}"


#: A queued task of a pipeline: (step index, task id, its ADD). A tuple: one is made per task.
_InFlight = tuple[int, int, _Pending]


class V3Link:
    """An async v3 client. One operation at a time uses it (the driver holds a lock around each)."""

    def __init__(
        self,
        transport: Transport,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        window: int = 16,
        log_extra: dict[str, Any] | None = None,
    ) -> None:
        self.transport = transport
        self.timeouts = timeouts
        self.window = max(1, window)
        self.log_extra = dict(log_extra or {})
        self.stats = LinkStats()
        self._decoder = FrameDecoder()
        self._pid = MAX_ID
        self._tid = MAX_ID
        self._pending: dict[int, _Pending] = {}
        self._results: dict[int, TaskResult] = {}
        self._result_waiters: dict[int, asyncio.Future[TaskResult]] = {}
        self._live_tids: set[int] = set()
        self._reader: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._last_rx = 0.0
        self._seq = 0
        self._clock = _loop_time  # the running loop's clock; bound to the loop itself by open()
        self._loop: asyncio.AbstractEventLoop | None = None  # set by open()
        #: The retransmission watchdog: one timer for every unanswered frame (see `_on_watch`).
        self._watch: asyncio.TimerHandle | None = None
        self._watch_at = 0.0
        #: Frames sent again so far (any `attempts` increase): a pipeline during which it did not move
        #: resent nothing, and is not tainted without looking at each of its ADDs.
        self._resends = 0
        #: Whether the last `run_pipeline` had to resend an ADD (its order is then not guaranteed).
        self.last_tainted = False

    def _ctx(self) -> dict[str, Any]:
        return with_context(self.log_extra)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._reader is not None and not self._reader.done() and self._failure is None

    async def open(self) -> None:
        """Connect the transport, start reading, clear the device's task buffer (ABORT)."""
        await self.close()
        try:
            await self.transport.connect(deadline_in(self.timeouts.connect))
        except TransportError as exc:
            raise DeviceUnreachable(f"{self.transport.address}: {exc}") from exc
        self.transport.discard_input()
        self._decoder = FrameDecoder()
        self._failure = None
        self._results.clear()
        self._live_tids.clear()
        self._loop = asyncio.get_running_loop()
        self._clock = self._loop.time
        self._last_rx = self._now()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop(), name="atol-v3-reader")
        await self.abort()

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except (asyncio.CancelledError, Exception):
                pass
        self._fail_all(DeviceUnreachable(f"{self.transport.address}: link closed"))
        try:
            await self.transport.close()
        except TransportError:
            pass

    # -- the reader -----------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock()

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.transport.read(4096)
                self._last_rx = self._clock()
                self.stats.bytes_in += len(data)
                debug = logger.isEnabledFor(logging.DEBUG)  # once per chunk, not per frame
                for event in self._decoder.feed(data):
                    reply = self._on_event(event, debug)  # not a coroutine: this runs for every frame in
                    if reply is not None:
                        await self._write(reply)
        except asyncio.CancelledError:
            raise
        except TransportError as exc:
            self._fail_all(DeviceUnreachable(f"{self.transport.address}: {exc}"), cause=exc)
        except Exception as exc:  # a bug must not leave callers waiting forever
            logger.exception("v3 reader crashed", extra=self._ctx())
            self._fail_all(ProtocolFailure(f"reader failed: {exc!r}"), cause=exc)

    def _fail_all(self, error: Exception, cause: BaseException | None = None) -> None:
        if cause is not None:
            error.__cause__ = cause
        self._failure = error
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
                pending.future.exception()  # mark retrieved: a caller may already be gone
        for waiter in self._result_waiters.values():
            if not waiter.done():
                waiter.set_exception(error)
                waiter.exception()

    def _on_event(self, event: Frame | FrameError, debug: bool | None = None) -> bytes | None:
        """Take one frame (or corrupt frame) from the device; returns a frame to send back, if any.

        `debug`: whether debug logging is on (None: ask the logger)."""
        if debug is None:
            debug = logger.isEnabledFor(logging.DEBUG)
        if isinstance(event, FrameError):
            return self._on_corrupt(event)
        self.stats.frames_in += 1
        pid = event.packet_id
        if not event.data:
            self.stats.resend_requests_in += 1
            pending = self._pending.get(pid)
            if pending is not None:
                if debug:
                    logger.debug("device asks to resend packet %02X", pid, extra=self._ctx())
                pending.attempts += 1  # the device lost the first copy: it may now run out of order
                self._resends += 1
                return pending.frame
            return None
        try:
            status = decode_device(event.data)
        except ProtocolError as exc:
            logger.warning("undecodable status in packet %02X: %s", pid, exc, extra=self._ctx())
            return None
        if pid == ASYNC_PACKET_ID:
            if debug:
                logger.debug("async %s for task %s", status.state.name, status.tid, extra=self._ctx())
            if status.tid is not None:  # (decode_device sets a tid only for the states that have one)
                self._store_result(status.tid, status.state, status.payload)
            return None
        pending = self._pending.get(pid)
        if pending is None or pending.future.done():
            if debug:
                logger.debug("late or duplicate answer for packet %02X ignored", pid, extra=self._ctx())
            return None
        if debug:
            logger.debug("packet %02X (%s): %s", pid, pending.what, status.state.name, extra=self._ctx())
        del self._pending[pid]  # answered: neither resent nor "oldest unanswered" any more
        pending.future.set_result(status)
        return None

    def _on_corrupt(self, error: FrameError) -> bytes | None:
        """Ask the device to resend a corrupt frame, when doing so cannot fetch a stale frame.

        The device keeps the last frame it sent with each packet id, including ids from the previous
        lap of the 0x00..0xDF cycle. Asking for packet P before the device has processed our packet
        P would return that stale frame. The device answers in order, so if P is our *oldest*
        unanswered packet and the device is sending answers, P has been processed and its cached
        frame is fresh. F0 is always fresh (it is the latest async result; duplicates are harmless).
        Other cases are left to the retransmission timer.
        """
        if error.reason == "noise":
            return None
        self.stats.corrupt_in += 1
        pid = error.packet_id
        if pid is None:
            return None
        oldest = min(self._pending.values(), key=lambda p: p.seq, default=None)
        if pid == ASYNC_PACKET_ID or (oldest is not None and oldest.pid == pid):
            self.stats.resend_requests_out += 1
            return encode_frame(pid, b"")
        return None

    def _store_result(self, tid: int, state: TaskState, payload: bytes) -> None:
        if tid not in self._live_tids or tid in self._results:
            return  # a duplicate (resend) or a task of an earlier session
        result = TaskResult(tid, state, payload)
        self._results[tid] = result
        waiter = self._result_waiters.get(tid)
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    # -- frames out -----------------------------------------------------------------------------

    async def _write(self, frame: bytes, now: float | None = None) -> None:
        # No lock of our own: `Transport.write` sends each frame whole, one writer at a time.
        try:
            await self.transport.write(frame, (self._clock() if now is None else now) + self.timeouts.connect)
        except TransportError as exc:
            raise self._write_failed(exc) from exc
        self.stats.bytes_out += len(frame)
        self.stats.frames_out += 1

    def _write_failed(self, exc: TransportError) -> DeviceUnreachable:
        """A write failed: the link is dead; every waiter gets the error, which is returned to raise."""
        error = DeviceUnreachable(f"{self.transport.address}: {exc}")
        self._fail_all(error, cause=exc)
        return error

    def _next_pid(self) -> int:
        pid = 0 if self._pid >= MAX_ID else self._pid + 1
        if pid not in self._pending:  # the usual case, without the search loop
            self._pid = pid
            return pid
        for _ in range(MAX_ID + 1):
            self._pid = 0 if self._pid >= MAX_ID else self._pid + 1
            if self._pid not in self._pending:
                return self._pid
        raise ProtocolFailure("no free packet id")

    def _next_tid(self) -> int:
        tid = 0 if self._tid >= MAX_ID else self._tid + 1
        if tid not in self._live_tids:  # the usual case, without the search loop
            self._tid = tid
            return tid
        for _ in range(MAX_ID + 1):
            self._tid = 0 if self._tid >= MAX_ID else self._tid + 1
            if self._tid not in self._live_tids:
                return self._tid
        raise ProtocolFailure("no free task id")

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._reader is None:
            raise DeviceUnreachable(f"{self.transport.address}: link not open")

    async def _send(self, message: HostMessage, name: str = "") -> _Pending:
        """Write a message that expects a synchronous status; returns its pending record.

        From here on the watchdog retransmits it after link silence until it is answered, given up
        on, or dropped; `pending.future` gets the status (or the error)."""
        if self._failure is not None or self._reader is None:
            self._check()  # raises
        pid = self._next_pid()
        frame = encode_frame(pid, encode_host(message))
        future: asyncio.Future[TaskStatus] = self._loop.create_future()  # type: ignore[union-attr]  # open() set it
        self._seq += 1
        now = self._clock()
        # (positional: a dataclass __init__ called with keywords costs more; this runs for every frame)
        pending = _Pending(pid, frame, message, future, now, 1, self._seq, False, now, None, name)
        self._pending[pid] = pending
        self._arm(now + self.timeouts.sync_reply)
        # What `_write` does, without its coroutine (this runs for every frame).
        try:
            await self.transport.write(frame, now + self.timeouts.connect)
        except TransportError as exc:
            error = self._write_failed(exc)
            self._pending.pop(pid, None)
            raise error from exc
        except BaseException:
            self._pending.pop(pid, None)
            raise
        stats = self.stats
        stats.bytes_out += len(frame)
        stats.frames_out += 1
        return pending

    async def _await_sync(self, pending: _Pending, patience: float = 0.0) -> TaskStatus:
        """Wait for the synchronous status of `pending`; the watchdog resends it after link silence.

        Gives up after `retries` resends - but not before `patience` seconds: a REQ for a task that is
        still executing may meet a device too busy to answer, and that is allowed for the task's T5.
        """
        pending.give_up_at = self._clock() + patience
        try:
            status = await pending.future
        except BaseException:
            self._unwatch(pending, stop_resend=True)
            raise
        self._unwatch(pending)
        return status

    def _answered(self, pending: _Pending) -> TaskStatus:
        """`_await_sync` for a pending whose future is done."""
        try:
            status = pending.future.result()
        except BaseException:
            self._unwatch(pending, stop_resend=True)
            raise
        self._unwatch(pending)
        return status

    def _unwatch(self, pending: _Pending, stop_resend: bool = False) -> None:
        """`pending` no longer expects its status: no retransmission of it starts after this.

        `stop_resend`: also cancel a retransmission being written (the wait was given up or dropped).
        """
        if self._pending.get(pending.pid) is pending:
            del self._pending[pending.pid]
        resend = pending.resend
        if stop_resend and resend is not None and not resend.done():
            resend.cancel()

    # -- the retransmission watchdog --------------------------------------------------------------
    #
    # Each unanswered frame is resent when the link has been silent for `sync_reply` since it was sent
    # (`max(sent_at, last_rx) + sync_reply`), at most `retries` times (then its future fails with
    # LinkTimeout, once its `give_up_at` has come). One timer for all of them instead of a timer, a
    # waiter future and a task per frame: this runs for every frame the link sends. The timer is lazy:
    # traffic moves the deadlines later, and an early wake-up just re-arms it.

    def _arm(self, when: float) -> None:
        watch = self._watch
        if watch is not None:
            if self._watch_at <= when:
                return
            watch.cancel()
        self._watch_at = when
        self._watch = asyncio.get_running_loop().call_at(when, self._on_watch)

    def _on_watch(self) -> None:
        self._watch = None
        now = self._clock()
        quiet = self.timeouts.sync_reply
        next_at: float | None = None
        for pending in list(self._pending.values()):  # creation order: resends go out in that order
            future = pending.future
            if future.done():
                continue
            due = max(pending.sent_at, self._last_rx) + quiet
            if due > now:
                next_at = due if next_at is None else min(next_at, due)
                continue
            if pending.attempts > self.timeouts.retries and now >= pending.give_up_at:
                del self._pending[pending.pid]
                future.set_exception(LinkTimeout(
                    f"{self.transport.address}: no answer to {pending.what} after {pending.attempts} attempts"
                ))
                future.exception()  # mark retrieved: its waiter may be gone
                continue
            pending.attempts += 1
            self._resends += 1
            pending.sent_at = now
            self.stats.retransmits += 1
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("retransmitting %s (packet %02X)", pending.what, pending.pid, extra=self._ctx())
            pending.resend = asyncio.get_running_loop().create_task(self._resend(pending))
            due = now + quiet
            next_at = due if next_at is None else min(next_at, due)
        if next_at is not None:
            self._arm(next_at)

    async def _resend(self, pending: _Pending) -> None:
        try:
            await self._write(pending.frame)
        except DeviceUnreachable:
            pass  # `_write` failed every waiter with it

    async def _request(self, message: HostMessage, patience: float = 0.0) -> TaskStatus:
        return await self._await_sync(await self._send(message), patience)

    # -- task-buffer operations -----------------------------------------------------------------

    async def abort(self) -> None:
        """Clear the device's task buffer (and forget our own view of it)."""
        await self._request(_ABORT)
        self._live_tids.clear()
        self._results.clear()

    async def ack(self, tid: int) -> None:
        await self._request(Ack(tid))
        self._forget(tid)

    def _forget(self, tid: int) -> None:
        self._live_tids.discard(tid)
        self._results.pop(tid, None)

    async def _add(self, payload: bytes, name: str) -> tuple[int, _Pending]:
        tid = self._next_tid()
        self._live_tids.add(tid)
        self.stats.tasks += 1
        try:
            pending = await self._send(Add(tid, payload, _NEED_RESULT), name)
        except BaseException:
            self._live_tids.discard(tid)
            raise
        return tid, pending

    def _accept(self, tid: int, pending: _Pending, status: TaskStatus) -> bool:
        """Interpret the synchronous status of an ADD. True: queued (or already finished)."""
        state = status.state
        if state in _RUNNING:
            return True
        if state.is_final:  # executed at once (or stopped): the status is the result
            self._store_result(tid, state, status.payload)
            return True
        if state is TaskState.ALREADY_EXISTS and pending.attempts > 1:
            return True  # our first copy arrived; its answer was lost
        if state is TaskState.OVERFLOW:
            self.stats.overflows += 1
            return False
        raise ProtocolFailure(f"{pending.what}: device answered {state.name}")

    async def wait_result(self, tid: int, timeout: float) -> TaskResult:
        """The result of task `tid`, polling it with REQ whenever the link falls silent."""
        self._check()
        result = self._results.get(tid)
        if result is not None:  # usually the result came with (or right after) the ADD's answer
            return result
        loop = asyncio.get_running_loop()
        last_poll = self._clock()
        deadline = last_poll + timeout
        poll = self.timeouts.result_poll
        waiter = self._result_waiters.get(tid)
        if waiter is None or waiter.done():
            waiter = loop.create_future()
            self._result_waiters[tid] = waiter
        try:
            while True:
                self._check()
                if tid in self._results:
                    return self._results[tid]
                now = self._now()
                if now >= deadline:
                    raise LinkTimeout(f"{self.transport.address}: no result for task {tid:02X} in {timeout:.0f} s")
                left = min(deadline, max(last_poll, self._last_rx) + poll) - now
                if left > 0:
                    await _settled(waiter, left)
                    continue
                if self._now() >= deadline:
                    continue
                self.stats.polls += 1
                last_poll = self._now()
                status = await self._request(Req(tid), patience=deadline - self._now())
                last_poll = self._now()
                if status.state.is_final:
                    self._store_result(tid, status.state, status.payload)
                elif status.state is TaskState.NOT_FOUND:
                    if tid in self._results:
                        continue
                    self._forget(tid)
                    raise TaskLost(f"{self.transport.address}: the device lost task {tid:02X}")
                elif status.state not in _RUNNING:
                    raise ProtocolFailure(f"REQ {tid:02X}: device answered {status.state.name}")
        finally:
            if self._result_waiters.get(tid) is waiter:
                del self._result_waiters[tid]

    async def execute(self, payload: bytes, timeout: float, name: str = "") -> TaskResult:
        """Queue one task, wait for its result, ACK it. A full buffer is waited out (bounded)."""
        for attempt in range(self.timeouts.retries + 1):
            tid, pending = await self._add(payload, name)
            if self._accept(tid, pending, await self._await_sync(pending)):
                break
            self._live_tids.discard(tid)
            await asyncio.sleep(self.timeouts.result_poll * (attempt + 1))
        else:
            raise LinkTimeout(f"{self.transport.address}: task buffer stays full")
        result = await self.wait_result(tid, timeout)
        await self.ack(tid)
        return result

    # -- pipelining -----------------------------------------------------------------------------

    async def run_pipeline(
        self, steps: list[PipelineStep], window: int | None = None, *, release: Release = "ack"
    ) -> list[TaskResult]:
        """Run `steps` pipelined; return their results in order.

        On the first step that does not succeed: stop sending, clear the buffer (ABORT), and raise
        `PipelineFailed` carrying the failed result and the successful ones before it.

        `release`: how the finished tasks leave the device's buffer. "ack": each is ACKed as its result
        is taken. When the whole pipeline fits in the window, the ACKs can wait until the end: a
        failure's ABORT then clears them all at once, and a success is released with one ABORT
        ("abort": the buffer holds nothing else of ours, every result is taken, so ABORT cancels
        nothing; for a finished operation) or with the held ACKs ("ack_at_end": for a read that a
        later pipeline continues, where only ACK is known to leave the device's reading cursor alone).
        """
        results: list[TaskResult] = []
        inflight: deque[_InFlight] = deque()
        acks: list[asyncio.Task[None]] = []
        window = max(1, window or self.window)
        held: list[int] = []  # finished tasks whose release waits for the end (see `release`)
        count = len(steps)
        hold = release != "ack" and 1 < count <= window
        next_index = 0
        overflows = 0
        sent: list[_Pending] = []
        resends = self._resends
        unacked = self._unacked
        self.last_tainted = False

        def tainted() -> bool:
            # An ADD sent twice can only have run late if a later ADD was already on its way.
            if self._resends == resends:  # nothing at all was sent twice meanwhile (the usual case)
                return False
            return any(p.attempts > 1 and p.overtaken for p in sent)

        try:
            while next_index < count or inflight:
                # Fill the window; a barrier step waits until everything before it has succeeded.
                while next_index < count and len(inflight) + (unacked(acks) if acks else 0) + len(held) < window:
                    step = steps[next_index]
                    if step.barrier:
                        if inflight or (acks and unacked(acks)):
                            break
                        if tainted():
                            await self._settle(acks)
                            await self._release(held, release)
                            self.last_tainted = True
                            raise PipelineReordered(next_index)
                    # Every unanswered ADD in flight is overtaken by this one. Only the latest can be
                    # unmarked: each earlier one was marked (or answered) when its successor was sent.
                    if inflight:
                        latest = inflight[-1][2]
                        if not latest.future.done():
                            latest.overtaken = True
                    # What `_add` does, without its coroutine (this runs for every task).
                    tid = self._next_tid()
                    self._live_tids.add(tid)
                    self.stats.tasks += 1
                    try:
                        pending = await self._send(Add(tid, step.payload, _NEED_RESULT), step.name)
                    except BaseException:
                        self._live_tids.discard(tid)
                        raise
                    sent.append(pending)
                    inflight.append((next_index, tid, pending))
                    next_index += 1
                if not inflight:
                    await self._settle(acks)
                    continue
                index, tid, pending = inflight[0]
                # Usually answered already: take it without a coroutine (what `_await_sync` would do).
                status = self._answered(pending) if pending.future.done() else await self._await_sync(pending)
                if not self._accept(tid, pending, status):
                    # Buffer full: everything queued after it was refused too, unless an ACK freed a
                    # slot in between - then the device holds tasks out of order, and we must stop.
                    later = [await self._await_sync(item[2]) for item in list(inflight)[1:]]
                    if any(s.state is not TaskState.OVERFLOW for s in later):
                        raise ProtocolFailure("task buffer overflow reordered the pipeline")
                    for _, item_tid, item_pending in inflight:
                        self._live_tids.discard(item_tid)
                        sent.remove(item_pending)  # refused copies never ran
                    inflight.clear()
                    if held:  # the buffer is smaller than the window: free the slots as they come from now on
                        acks.extend(asyncio.get_running_loop().create_task(self.ack(tid)) for tid in held)
                        held.clear()
                    hold = False
                    window = max(1, min(window, len(self._live_tids)))
                    next_index = index
                    await self._settle(acks)
                    overflows += 1
                    if overflows > self.timeouts.retries:
                        raise LinkTimeout(f"{self.transport.address}: task buffer stays full")
                    if not self._live_tids:
                        await asyncio.sleep(self.timeouts.result_poll * overflows)
                    logger.info("task buffer full: pipeline window now %d", window, extra=self._ctx())
                    continue
                # (what `wait_result` returns at once, without a coroutine; it also does `_check`)
                result = self._results.get(tid) if self._failure is None and self._reader is not None else None
                if result is None:
                    result = await self.wait_result(tid, steps[index].timeout)
                inflight.popleft()
                if result.state not in _OK_STATES:  # (`not result.ok`)
                    if inflight:
                        await self._drop(inflight)
                    await self._settle(acks)
                    await self.abort()
                    self.last_tainted = tainted()
                    raise PipelineFailed(index, steps[index], result, results, self.last_tainted)
                results.append(result)
                if hold:
                    held.append(tid)
                else:
                    acks.append(asyncio.get_running_loop().create_task(self.ack(tid)))
            if acks:  # (no coroutine for nothing to do)
                await self._settle(acks)
            if held:
                await self._release(held, release)
            self.last_tainted = tainted()
            return results
        except BaseException:
            for task in acks:
                task.cancel()
            if inflight:  # (none left after a step's failure: no coroutine for nothing)
                await self._drop(inflight)
            if acks:  # (gather of nothing is a no-op: skipped)
                await asyncio.gather(*acks, return_exceptions=True)
            raise

    async def _release(self, held: list[int], release: Release) -> None:
        """Free the buffer slots of finished tasks whose results were taken (see `run_pipeline`)."""
        tids = list(held)
        held.clear()
        if not tids:
            return
        if release == "abort" and len(tids) > 1:
            await self.abort()
        else:
            await asyncio.gather(*(self.ack(tid) for tid in tids))

    async def _drop(self, inflight: deque[_InFlight]) -> None:
        """Stop caring about queued ADDs: no resend of them may reach the device after this.

        Their packets leave `_pending` at once, so neither the watchdog nor a late resend request from the
        device sends them again; a retransmission being written is cancelled and awaited before the caller
        sends anything else (an ABORT, typically). Otherwise an old ADD could arrive after the ABORT and run.
        """
        items = list(inflight)
        inflight.clear()
        resends = []
        for _, _, pending in items:
            self._unwatch(pending, stop_resend=True)
            pending.future.cancel()
            if pending.resend is not None:
                resends.append(pending.resend)
        if resends:  # (gather of nothing is a no-op: skipped)
            await asyncio.gather(*resends, return_exceptions=True)

    @staticmethod
    def _unacked(acks: list[asyncio.Task[None]]) -> int:
        if not acks:  # the usual case (held ACKs): no generator
            return 0
        return sum(1 for task in acks if not task.done())

    @staticmethod
    async def _settle(acks: list[asyncio.Task[None]]) -> None:
        """Wait for outstanding ACKs; re-raise the first failure."""
        if acks:
            pending = list(acks)
            acks.clear()
            for outcome in await asyncio.gather(*pending, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    raise outcome
