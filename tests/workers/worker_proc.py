"""A minimal bridge daemon for the crash tests: one device worker + the journal, in its own process.

    python worker_proc.py --journal J --uri tcp://127.0.0.1:PORT --jobs JOBS.json

JOBS.json: ``[{"key": "k1", "kind": "sell", "request": {...}, "priority": "interactive"}, ...]``. Every job
is submitted with its idempotency key, so starting the process again on the same journal replays them
(the journal returns the existing jobs) instead of adding new ones; the worker recovers whatever was in
flight when the previous process died. Prints one JSON object per line on stdout (``started``,
``submitted``, ``finished``) and exits 0 once every job is terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from workers_testutil import make_device

from kkm_bridge.journal import AsyncJournal, NewJob, Priority
from kkm_bridge.workers import DeviceManager, WorkerConfig


def emit(**fields: object) -> None:
    print(json.dumps(fields, default=str), flush=True)


async def main(args: argparse.Namespace) -> int:
    jobs = json.loads(Path(args.jobs).read_text())
    journal = await AsyncJournal.open(args.journal)
    manager = DeviceManager(journal, config=WorkerConfig(backoff_initial=0.05, backoff_max=0.5,
                                                         connect_timeout=5.0))
    manager.add(args.device, make_device(args.uri))
    await manager.start()
    emit(event="started")
    handles = []
    for spec in jobs:
        sub = await manager.submit(NewJob(
            kind=spec["kind"], device_id=args.device, request=spec["request"], idempotency_key=spec["key"],
            priority=Priority[spec.get("priority", "interactive").upper()],
        ))
        emit(event="submitted", job_id=sub.job.job_id, replay=sub.replay, state=sub.job.state)
        handles.append(sub.handle)
    for handle in handles:
        job = await handle.wait(args.timeout)
        emit(event="finished", job_id=job.job_id, state=job.state, document_number=job.document_number,
             fiscal_sign=job.fiscal_sign, error_code=job.error_code)
    await manager.stop()
    await journal.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--journal", required=True)
    parser.add_argument("--uri", required=True)
    parser.add_argument("--jobs", required=True)
    parser.add_argument("--device", default="kkm1")
    parser.add_argument("--timeout", type=float, default=60.0)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.exit(asyncio.run(main(parser.parse_args())))
