"""``DeviceManager``: the daemon's set of device workers, started and stopped with it.

The HTTP layer talks to this object only::

    manager = DeviceManager(journal)
    manager.add("kkm1", AtolDriver(...))               # one worker per configured device
    await manager.start()
    sub = await manager.submit(NewJob(kind="sell", device_id="kkm1", request=body, idempotency_key=key,
                                      priority=Priority.INTERACTIVE, deadline=now + timedelta(seconds=30)),
                               require_online=True)     # sync mode: fail fast when the device is offline
    job = await sub.handle.wait(timeout=30)             # sync mode; async mode: answer 202 with sub.job
    ...
    await manager.stop()                                # SIGTERM: stop accepting, finish the job in flight
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from kkm_bridge.driver.api import FiscalDevice
from kkm_bridge.journal import AsyncJournal, Job, NewJob

from .errors import UnknownDevice, WorkerStopped
from .operations import Operation, Planner, default_planner
from .worker import DeviceWorker, Submission, WorkerConfig, WorkerHealth, _utcnow

__all__ = ["DeviceManager"]

log = logging.getLogger("kkm_bridge.workers")


class DeviceManager:
    """Maps device ids to their ``DeviceWorker`` s. Use as ``async with DeviceManager(journal) as m:``."""

    def __init__(
        self,
        journal: AsyncJournal,
        *,
        planner: Planner = default_planner,
        config: WorkerConfig | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.journal = journal
        self.planner = planner
        self.config = config or WorkerConfig()
        self.clock = clock
        self._workers: dict[str, DeviceWorker] = {}
        self._started = False
        self._stopped = False

    def add(
        self, device_id: str, device: FiscalDevice, *, planner: Planner | None = None,
        config: WorkerConfig | None = None,
    ) -> DeviceWorker:
        """Register a device (before ``start``; a worker added later is started by ``start_worker``)."""
        if device_id in self._workers:
            raise ValueError(f"device {device_id!r} is already managed")
        worker = DeviceWorker(device_id, device, self.journal, planner=planner or self.planner,
                              config=config or self.config, clock=self.clock)
        self._workers[device_id] = worker
        return worker

    def worker(self, device_id: str) -> DeviceWorker:
        try:
            return self._workers[device_id]
        except KeyError:
            raise UnknownDevice(device_id) from None

    def __iter__(self) -> Iterator[DeviceWorker]:
        return iter(self._workers.values())

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._workers

    async def start(self) -> None:
        self._started = True
        for worker in self._workers.values():
            await worker.start()

    async def start_worker(self, device_id: str) -> None:
        await self.worker(device_id).start()

    async def stop(self, grace: float | None = None) -> None:
        """Stop every worker in parallel: no new jobs; each finishes its job in flight (within ``grace``)."""
        self._stopped = True
        await asyncio.gather(*(worker.stop(grace) for worker in self._workers.values()))

    async def __aenter__(self) -> DeviceManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def submit(
        self, new_job: NewJob, *, require_online: bool = False, plan: Operation | None = None,
        durable: bool = True,
    ) -> Submission:
        """Journal and queue a job on its device's worker (see ``DeviceWorker.submit``; ``plan`` is the
        operation already built from the journalled body, if the caller has it)."""
        if self._stopped:
            raise WorkerStopped("the daemon is stopping")
        return await self.worker(new_job.device_id).submit(new_job, require_online=require_online, plan=plan,
                                                           durable=durable)

    async def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Wait for a job by id (e.g. a replayed request); ``TimeoutError`` if it is not terminal in time."""
        job = await self.journal.get(job_id)
        if job.is_terminal:
            return job
        return await self.worker(job.device_id).handle(job).wait(timeout)

    def health(self) -> dict[str, WorkerHealth]:
        return {device_id: worker.health() for device_id, worker in self._workers.items()}
