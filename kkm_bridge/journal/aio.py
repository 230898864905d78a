"""``AsyncJournal``: the same API as ``Journal`` for asyncio code.

Why threads at all: every durable write ends in an fsync (synchronous=FULL). That is short, but on a slow
disk it is milliseconds, and the HTTP server's event loop should keep serving other requests meanwhile.
``Journal`` is thread-safe, so ``asyncio.to_thread`` is all that is needed.

Why not for the device workers' writes (``inline_writes``, the default): a worker's claim, pre-flight record
and completion sit on the device's critical path - the next command cannot go out before they are durable -
so a thread hop there buys nothing and costs a cross-thread hand-over, a loop wake-up and the GIL's
ping-pong, while the worker's continuation waits behind whatever else the loop is running. Measured on
``bench/http.py``'s setup (c8, 1,500 sales, five alternating pairs): 20-25 % more receipts per second and
about 1 ms less daemon CPU per receipt inline. The price: the loop stands still for that fsync (a tenth of a
millisecond on an SSD; on an SD card or a slow network disk several milliseconds - set
``[journal] writes = "thread"`` there). The same holds for a synchronous request's accept, which has no
fsync of its own (``Journal.accept(durable=False)``). Reads, durable accepts (202) and opening/closing stay
in a thread.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from .models import AcceptOutcome, Job, JobNote, JobResult, JobState, NewJob, PreflightFacts
from .store import Journal

__all__ = ["AsyncJournal"]


class AsyncJournal:
    """Wraps a ``Journal``; ``sync`` gives the underlying object for code that runs in threads already."""

    def __init__(self, journal: Journal, *, inline_writes: bool = True) -> None:
        self.sync = journal
        #: Run the workers' writes and non-durable accepts on the calling thread (see the module docstring).
        self.inline_writes = inline_writes

    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, inline_writes: bool = True, **kwargs: Any) -> AsyncJournal:
        return cls(await asyncio.to_thread(Journal.open, path, **kwargs), inline_writes=inline_writes)

    async def _write(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A worker-side write: inline when ``inline_writes``, else in a thread."""
        if self.inline_writes:
            return call(*args, **kwargs)
        return await asyncio.to_thread(call, *args, **kwargs)

    async def close(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def accept(self, job: NewJob, *, durable: bool = True) -> AcceptOutcome:
        if not durable:  # no fsync: only the worker's claim makes it durable
            return await self._write(self.sync.accept, job, durable=False)
        return await asyncio.to_thread(self.sync.accept, job, durable=True)

    async def claim_next(self, device_id: str) -> Job | None:
        return await self._write(self.sync.claim_next, device_id)

    async def claim_and_preflight(
        self, device_id: str, facts_for: Callable[[Job], PreflightFacts | None]
    ) -> Job | None:
        return await self._write(self.sync.claim_and_preflight, device_id, facts_for)

    async def complete_and_claim(
        self,
        job_id: str,
        result: JobResult | Mapping[str, Any],
        device_id: str,
        facts_for: Callable[[Job], PreflightFacts | None],
    ) -> tuple[Job, Job | None]:
        return await self._write(self.sync.complete_and_claim, job_id, result, device_id, facts_for)

    async def record_preflight(self, job_id: str, facts: PreflightFacts) -> Job:
        return await self._write(self.sync.record_preflight, job_id, facts)

    async def complete(self, job_id: str, result: JobResult | Mapping[str, Any]) -> Job:
        return await self._write(self.sync.complete, job_id, result)

    async def fail(self, job_id: str, code: str, message: str) -> Job:
        return await self._write(self.sync.fail, job_id, code, message)

    async def requeue(self, job_id: str) -> Job:
        return await self._write(self.sync.requeue, job_id)

    async def resolve_by_operator(
        self, job_id: str, *, operator: str, note: str, document_number: int | None = None, failed: bool = False
    ) -> Job:
        return await asyncio.to_thread(
            self.sync.resolve_by_operator, job_id, operator=operator, note=note, document_number=document_number,
            failed=failed,
        )

    async def notes(self, job_id: str) -> list[JobNote]:
        return await asyncio.to_thread(self.sync.notes, job_id)

    async def get(self, job_id: str) -> Job:
        return await asyncio.to_thread(self.sync.get, job_id)

    async def find_by_key(self, idempotency_key: str, *, scope: str | None = None) -> Job | None:
        return await asyncio.to_thread(self.sync.find_by_key, idempotency_key, scope=scope)

    async def find_by_order_id(
        self, order_id: str, *, scope: str | None = None, kind: str | None = None
    ) -> Job | None:
        return await asyncio.to_thread(self.sync.find_by_order_id, order_id, scope=scope, kind=kind)

    async def list_jobs(
        self,
        *,
        device_id: str | None = None,
        shift: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        state: JobState | Iterable[JobState] | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        return await asyncio.to_thread(
            self.sync.list_jobs, device_id=device_id, shift=shift, since=since, until=until, state=state,
            kind=kind, limit=limit, offset=offset,
        )

    async def in_flight(self, device_id: str | None = None) -> list[Job]:
        return await asyncio.to_thread(self.sync.in_flight, device_id)

    async def counts(self, device_id: str | None = None) -> dict[JobState, int]:
        return await asyncio.to_thread(self.sync.counts, device_id)
