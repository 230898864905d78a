"""`kkm-bridge jobs list/resolve` as an installed program (subprocess) against a real journal file: jobs that
recovery left in_progress are listed, and an operator's decision is recorded with its audit note."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kkm_bridge.journal import Journal, JobState, NewJob, PreflightFacts

FACTS = PreflightFacts(last_document_number=5, shift_number=2, receipt_open=False, shift_open=True,
                       extra={"expected_kind": "sell", "expected_total": 50000})
BODY = {"operation": "sell", "currency": "KZT",
        "items": [{"name": "Milk", "price": "500", "quantity": "1", "vat_rate": "16"}],
        "payments": [{"type": "cash", "amount": "500"}]}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kkm_bridge", "jobs", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A journal with two jobs left in_progress with pre-flight facts (as recovery parks them) and one queued."""
    directory = tmp_path / "state"
    with Journal.open(directory / "journal.sqlite3") as journal:
        for index in range(3):
            journal.accept(NewJob(kind="sell", device_id="kkm1", request=BODY, job_id=f"CHK{index}",
                                  idempotency_key=f"k{index}"))
        for _ in range(2):
            assert journal.claim_and_preflight("kkm1", lambda job: FACTS) is not None
    return directory


def test_list_shows_the_jobs_left_in_progress(state_dir: Path) -> None:
    out = cli("list", "--state-dir", str(state_dir), "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(row["job_id"] for row in rows) == ["CHK0", "CHK1"]
    assert all(row["state"] == "in_progress" and row["preflight_last_document"] == 5 for row in rows)
    assert rows[0]["expected_kind"] == "sell" and rows[0]["expected_total_minor"] == 50000
    table = cli("list", "--state-dir", str(state_dir), "--state", "accepted", "--state", "in_progress")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["job_id", "kind", "device_id", "state"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["CHK0", "CHK1", "CHK2"]
    assert "no jobs in state done" in cli("list", "--state-dir", str(state_dir), "--state", "done").stdout


def test_list_reads_the_state_dir_of_a_config_file(state_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{state_dir}"\n')
    out = cli("list", "--config", str(config), "--json")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 2


def test_resolve_done_records_the_document_and_an_audit_note(state_dir: Path) -> None:
    out = cli("resolve", "CHK0", "--state-dir", str(state_dir), "--done-document", "6", "--operator", "aigerim",
              "--note", "found on the tape")
    assert out.returncode == 0, out.stderr
    assert "CHK0 marked done (document 6) by aigerim" in out.stdout
    with Journal.open(state_dir / "journal.sqlite3") as journal:
        job = journal.get("CHK0")
        assert job.state == JobState.DONE and job.document_number == 6
        assert job.result is not None and job.result["resolved_by"] == "operator"
        assert job.result["operator"] == "aigerim" and job.result["operator_note"] == "found on the tape"
        [note] = journal.notes("CHK0")
        assert (note.author, note.action, note.note) == ("aigerim", "resolved_done", "found on the tape")
    # Done is terminal: resolving it again is refused and changes nothing.
    again = cli("resolve", "CHK0", "--state-dir", str(state_dir), "--failed", "oops")
    assert again.returncode == 1 and "is done" in again.stderr


def test_resolve_failed_records_the_reason(state_dir: Path) -> None:
    out = cli("resolve", "CHK1", "--state-dir", str(state_dir), "--failed", "nothing printed: paper jam",
              "--operator", "aigerim")
    assert out.returncode == 0, out.stderr
    with Journal.open(state_dir / "journal.sqlite3") as journal:
        job = journal.get("CHK1")
        assert job.state == JobState.FAILED and job.error_code == "operator_failed"
        assert job.error_message == "nothing printed: paper jam"
        assert [n.action for n in journal.notes("CHK1")] == ["resolved_failed"]
        assert journal.notes("CHK2") == []


def test_resolve_refuses_what_it_cannot_mean(state_dir: Path, tmp_path: Path) -> None:
    # A document that existed before the job was sent cannot be the job's.
    out = cli("resolve", "CHK0", "--state-dir", str(state_dir), "--done-document", "5")
    assert out.returncode == 2 and "not after the job's pre-flight last document 5" in out.stderr
    # A job still queued never touched the device: not an operator's case.
    out = cli("resolve", "CHK2", "--state-dir", str(state_dir), "--failed", "x")
    assert out.returncode == 1 and "is accepted" in out.stderr
    out = cli("resolve", "CHKNOPE", "--state-dir", str(state_dir), "--failed", "x")
    assert out.returncode == 1 and "no job" in out.stderr
    out = cli("resolve", "CHK0", "--state-dir", str(state_dir))
    assert out.returncode == 2  # a decision is required
    out = cli("resolve", "CHK0", "--state-dir", str(state_dir), "--done-document", "6", "--failed", "x")
    assert out.returncode == 2  # not both
    # The wrong directory is not turned into a new, empty journal.
    out = cli("list", "--state-dir", str(tmp_path / "elsewhere"))
    assert out.returncode == 2 and "no journal" in out.stderr
    assert not (tmp_path / "elsewhere").exists()
    with Journal.open(state_dir / "journal.sqlite3") as journal:
        assert journal.get("CHK0").state == JobState.IN_PROGRESS
        assert journal.notes("CHK0") == []
