"""A device's waiting room: a bounded priority queue of jobs, with a handle per job for whoever waits.

The durable queue is the journal (``Journal.claim_next`` hands out a device's ``accepted`` jobs,
interactive first, then oldest first, and survives restarts). This module is the in-memory side of it:

* the bound: the HTTP layer answers 429 when ``QueueFull`` is raised, before anything is journalled;
* ordering in memory identical to the journal's (priority, then sequence number), so a job's position
  can be reported and tested;
* one ``JobHandle`` per job: an awaitable that resolves with the job as stored once it is terminal
  (``done`` or ``failed``); a synchronous caller awaits it with a timeout, an asynchronous one ignores it;
* a wake-up for the worker when work arrives.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from kkm_bridge.journal import Job, Priority

from .errors import QueueFull

__all__ = ["JobHandle", "JobQueue", "QueuedJob"]


class JobHandle:
    """Resolves with the terminal ``Job`` (state ``done`` or ``failed``) from the journal.

    ``await handle.wait(timeout)`` raises ``TimeoutError`` if the job is not terminal in time; the job
    then keeps going (or, when its outcome is unknown, stays ``in_progress`` until recovery resolves it).
    Awaiting is optional: nobody has to look at a handle.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._future: asyncio.Future[Job] = asyncio.get_running_loop().create_future()

    @property
    def done(self) -> bool:
        return self._future.done()

    def result(self) -> Job:
        """The terminal job; ``asyncio.InvalidStateError`` if not resolved yet."""
        return self._future.result()

    async def wait(self, timeout: float | None = None) -> Job:
        # shield: a caller that times out (or is cancelled) must not cancel the shared future.
        return await asyncio.wait_for(asyncio.shield(self._future), timeout)

    def _resolve(self, job: Job) -> None:
        if not self._future.done():
            self._future.set_result(job)

    def __repr__(self) -> str:
        state = self._future.result().state if self._future.done() else "pending"
        return f"<JobHandle {self.job_id} {state}>"


@dataclass(order=True)
class QueuedJob:
    """A waiting job. Sort key: higher priority first, then journal order (``seq``)."""

    sort_key: tuple[int, int] = field(init=False, repr=False)
    job_id: str = field(compare=False)
    priority: Priority = field(compare=False)
    seq: int = field(compare=False)
    deadline: datetime | None = field(compare=False, default=None)
    idempotency_key: str | None = field(compare=False, default=None)

    def __post_init__(self) -> None:
        self.sort_key = (-int(self.priority), self.seq)

    @classmethod
    def from_job(cls, job: Job) -> QueuedJob:
        return cls(job.job_id, job.priority, job.seq, job.deadline, job.idempotency_key)


class JobQueue:
    """Bounded, priority-ordered set of a device's waiting jobs (see the module docstring).

    ``maxsize`` counts waiting jobs; ``reserve()`` holds a place while the caller journals the job, so a
    burst of concurrent submissions cannot overshoot the bound between the check and the insertion.
    """

    def __init__(self, maxsize: int, retry_after: float = 1.0) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.retry_after = retry_after  # the Retry-After hint QueueFull carries
        self._heap: list[QueuedJob] = []
        self._by_id: dict[str, QueuedJob] = {}
        self._reserved = 0
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._by_id

    def __iter__(self) -> Iterator[QueuedJob]:
        """Waiting jobs in the order they will run."""
        return iter(sorted(self._by_id.values()))

    @property
    def free(self) -> int:
        return max(0, self.maxsize - len(self._by_id) - self._reserved)

    def reserve(self) -> None:
        """Hold one place; ``QueueFull`` if there is none. Pair with ``put(..., reserved=True)`` or
        ``release()``."""
        if self.free <= 0:
            raise QueueFull(len(self._by_id), self.maxsize, self.retry_after)
        self._reserved += 1

    def release(self) -> None:
        self._reserved = max(0, self._reserved - 1)

    def put(self, entry: QueuedJob, *, reserved: bool = False, force: bool = False) -> QueuedJob:
        """Add a waiting job (or return the entry already queued under its id).

        ``force`` ignores the bound: jobs found in the journal at startup were accepted earlier and must
        run whatever the limit is now.
        """
        if reserved:
            self.release()
        existing = self._by_id.get(entry.job_id)
        if existing is not None:
            return existing
        if not force and not reserved and self.free <= 0:
            raise QueueFull(len(self._by_id), self.maxsize, self.retry_after)
        heapq.heappush(self._heap, entry)
        self._by_id[entry.job_id] = entry
        self._changed.set()
        return entry

    def get(self, job_id: str) -> QueuedJob | None:
        return self._by_id.get(job_id)

    def peek(self) -> QueuedJob | None:
        """The job that should run next."""
        while self._heap and self._heap[0].job_id not in self._by_id:
            heapq.heappop(self._heap)  # lazily drop entries removed by id
        return self._heap[0] if self._heap else None

    def pop(self) -> QueuedJob | None:
        entry = self.peek()
        if entry is not None:
            heapq.heappop(self._heap)
            del self._by_id[entry.job_id]
        return entry

    def remove(self, job_id: str) -> QueuedJob | None:
        """Take a job out (it was claimed, or finished without running); its heap slot is dropped lazily."""
        entry = self._by_id.pop(job_id, None)
        if len(self._heap) > 4 * len(self._by_id) + 64:
            self._heap = sorted(self._by_id.values())  # keep lazy deletion bounded
        return entry

    async def wait_not_empty(self) -> None:
        while not self._by_id:
            self._changed.clear()
            await self._changed.wait()

    def position(self, job_id: str) -> int | None:
        """0 = runs next; None if not waiting."""
        if job_id not in self._by_id:
            return None
        target = self._by_id[job_id]
        return sum(1 for entry in self._by_id.values() if entry < target)
