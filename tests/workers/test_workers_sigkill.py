"""The daemon killed with SIGKILL while a receipt is in flight, then started again on the same journal.

Three processes, as in production: the simulator (``kkm-bridge simulate``, over TCP or a pty), a worker
process (``worker_proc.py``: a ``DeviceManager`` + the journal + the ATOL driver) and this test. The
simulator holds back its reply with a ``stall`` fault, which makes the kill window deterministic:

* ``close``: the close-receipt command has executed (the receipt is in the simulator's fiscal memory
  file) but its reply has not been sent; the test sees the document in the state file, kills the worker;
  the restarted worker must find the receipt and complete the job from it.
* ``items``: the replies to the receipt's item commands are held (the close is never sent); the test
  kills the worker once the job's pre-flight facts are in the journal; the restarted worker must cancel
  whatever is open and print the receipt once.

After the restart: exactly one receipt per job in fiscal memory, and each job's stored result matches it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("kkm_bridge.driver.atol")

from workers_testutil import check_exactly_once, receipts_in, sell_body  # noqa: E402

from kkm_bridge.journal import Journal, JobState  # noqa: E402
from simulators.atol.fiscal_memory import FiscalDocument, FiscalMemory  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STALL = 6.0  # seconds the simulator holds its reply: the kill window (the test kills within milliseconds)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")])
    return env


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` (no wall-clock assertion: the timeout only turns a hang into a failure)."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def simulator(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path, bool]]:
    """(device URI, state file, receipt committed before the kill?) of a simulator process, from the
    test's param (transport, fault spec, committed)."""
    transport, fault, committed = request.param
    state = tmp_path / "sim.json"
    args = [sys.executable, "-m", "kkm_bridge", "simulate", "--state", str(state), "--sign-key-seed", "7",
            "--fault", fault]
    args += ["--tcp", "127.0.0.1:0"] if transport == "tcp" else ["--pty"]
    proc = subprocess.Popen(args, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    uri = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if line.startswith("tcp: "):
                uri = f"tcp://{line[5:]}"
            elif line.startswith("pty: "):
                uri = f"serial://{line[5:]}"
            elif line == "ready":
                break
        assert uri is not None, proc.stderr.read() if proc.stderr else ""
        yield uri, state, committed
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def start_worker(tmp_path: Path, uri: str, name: str) -> subprocess.Popen[str]:
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, str(HERE / "worker_proc.py"), "--journal", str(tmp_path / "journal.sqlite3"),
         "--uri", uri, "--jobs", str(tmp_path / "jobs.json")],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=log, text=True,
    )


def sim_documents(state: Path) -> list[FiscalDocument]:
    """The simulator's fiscal memory, read from its state file (SQLite) while it runs."""
    if not state.exists():
        return []
    memory = FiscalMemory(state)
    try:
        return list(memory.documents)
    finally:
        memory.close()


def job_states(tmp_path: Path) -> list[JobState]:
    path = tmp_path / "journal.sqlite3"
    if not path.exists():
        return []
    with Journal.open(path) as journal:
        return [job.state for job in journal.list_jobs()]


def in_flight_with_preflight(tmp_path: Path) -> bool:
    path = tmp_path / "journal.sqlite3"
    if not path.exists():
        return False
    with Journal.open(path) as journal:
        return any(job.preflight is not None for job in journal.in_flight())


@pytest.mark.parametrize(
    "simulator",
    [
        pytest.param(("tcp", f"stall:seconds={STALL},cmd=4A", True), id="tcp-close-executed-reply-held"),
        pytest.param(("pty", f"stall:seconds={STALL},cmd=E6", False), id="pty-items-held-receipt-open"),
    ],
    indirect=True,
)
def test_sigkill_while_a_receipt_is_in_flight_then_restart(
    tmp_path: Path, simulator: tuple[str, Path, bool]
) -> None:
    uri, state, committed = simulator
    (tmp_path / "jobs.json").write_text(json.dumps([
        {"key": "crash-1", "kind": "sell", "request": sell_body("321.00"), "priority": "interactive"},
        {"key": "crash-2", "kind": "sell", "request": sell_body("5.00"), "priority": "background"},
    ]))
    first = start_worker(tmp_path, uri, "first")
    try:
        wait_for(lambda: in_flight_with_preflight(tmp_path), what="the job's pre-flight facts")
        if committed:
            wait_for(lambda: receipts_in(sim_documents(state)), what="the receipt in fiscal memory")
        else:
            # The driver opens the shift (a document), then pipelines the receipt; the item replies are
            # held for STALL seconds, so shortly after the shift document the receipt is open on the device.
            wait_for(lambda: sim_documents(state), what="the shift-open document")
            time.sleep(0.3)
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert first.returncode == -signal.SIGKILL
    assert JobState.IN_PROGRESS in job_states(tmp_path)  # killed with the receipt in flight
    assert len(receipts_in(sim_documents(state))) == (1 if committed else 0)

    second = start_worker(tmp_path, uri, "second")
    try:
        out, _ = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, (tmp_path / "second.log").read_text()
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [e["replay"] for e in events if e["event"] == "submitted"] == [True, True]
    assert [e["state"] for e in events if e["event"] == "finished"] == ["done", "done"]
    log = (tmp_path / "second.log").read_text()
    # The path recovery took: the printed receipt found; or an open receipt cancelled (if the first process
    # died before its items reached the device, the still-armed stall fault cuts off the second one's).
    assert (": done (document" if committed else ": cancel_then_retry (") in log

    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        jobs = sorted(journal.list_jobs(), key=lambda job: job.seq)
    check_exactly_once(sim_documents(state), jobs)
    assert [job.result["total_minor"] for job in jobs if job.result] == [32100, 500]
