"""End to end with real processes: the daemon (``kkm-bridge serve``) drives the simulator (``kkm-bridge simulate
--pty``, another process) over a pty; fiscal memory is read back with ``simulate --dump``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_testutil import DaemonProcess, SimulatorProcess, sale, write_config


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Started lazily by each test (some need simulator faults); everything is stopped afterwards."""
    started: dict[str, Any] = {"daemons": []}
    yield started
    for daemon in started["daemons"]:
        daemon.stop()
    if "sim" in started:
        started["sim"].stop()


def _start(processes: dict[str, Any], tmp_path: Path, *sim_args: str) -> tuple[SimulatorProcess, DaemonProcess]:
    sim = SimulatorProcess.start(tmp_path / "sim.sqlite3", *sim_args)
    processes["sim"] = sim
    config = write_config(tmp_path, sim.pty)
    daemon = DaemonProcess.start(config)
    processes["daemons"].append(daemon)
    return sim, daemon


def test_sell_refund_reports_and_cash_through_http(processes: dict[str, Any], tmp_path: Path) -> None:
    sim, daemon = _start(processes, tmp_path)
    status, opened = daemon.call("POST", "/api/v1/shift/open", {"cashier": "Aigerim"})
    assert status == 200, opened
    status, cash = daemon.call("POST", "/api/v1/cash/in", {"sum": "5000"})
    assert status == 200 and cash["total"] == "5000.00"
    status, sold = daemon.call("POST", "/api/v1/check/sell", sale(idempotency_key="e2e-sale-1"))
    assert status == 200, sold
    assert sold["total"] == "1300.00" and sold["vat"] == [{"rate": "10", "sum": "81.82"}, {"rate": "none", "sum": "0.00"}]
    status, refund = daemon.call("POST", "/api/v1/check/refund", {"fiscal_check_id": sold["fiscal_check_id"]})
    assert status == 200, refund
    status, x = daemon.call("POST", "/api/v1/report/x")
    assert status == 200 and x["status"] == "done"
    status, out = daemon.call("POST", "/api/v1/cash/out", {"sum": 1000})
    assert status == 200
    status, z = daemon.call("POST", "/api/v1/shift/close")
    assert status == 200 and z["operation"] == "shift_close"

    documents = sim.documents()
    assert [d["kind"] for d in documents] == ["shift_open", "cash_in", "receipt", "receipt", "cash_out",
                                               "shift_close"]
    sale_doc, refund_doc = documents[2], documents[3]
    assert (sale_doc["receipt_type"], refund_doc["receipt_type"]) == (1, 2)
    assert sale_doc["total"] == refund_doc["total"] == 130000
    assert sale_doc["fiscal_sign"] == sold["fiscal_sign"] and refund_doc["fiscal_sign"] == refund["fiscal_sign"]
    assert sale_doc["number"] == sold["document_number"]
    assert documents[1]["total"] == 500000 and documents[4]["total"] == 100000
    assert sold["check_url"].endswith(f"i={sold['fiscal_sign']}&f=032600010282&s=1300.00&t="
                                      + sale_doc["date_time"].replace("-", "").replace(":", ""))


def test_bad_input_prints_nothing(processes: dict[str, Any], tmp_path: Path) -> None:
    sim, daemon = _start(processes, tmp_path)
    status, error = daemon.call("POST", "/api/v1/check/sell", sale(items=[{"name": "x", "quantity": 1,
                                                                           "price": 1, "vat_rate": 12}]))
    assert status == 400 and error["error"]["code"] == "vat_rate_not_allowed"
    status, error = daemon.call("POST", "/api/v1/check/sell", sale(total_sum="1299.99"))
    assert status == 400 and error["error"]["code"] == "total_mismatch"
    assert sim.receipts() == []
    status, sold = daemon.call("POST", "/api/v1/check/sell", sale())
    assert status == 200 and len(sim.receipts()) == 1


def test_sigkill_while_a_receipt_is_in_flight_then_retry(processes: dict[str, Any], tmp_path: Path) -> None:
    """The close-receipt reply is held back 4 s by the simulator (the document is already in fiscal memory):
    the daemon is killed in that window, restarted, and the client retries with the same key."""
    sim, daemon = _start(processes, tmp_path, "--fault", "stall:seconds=4,cmd=4A")
    body = sale(idempotency_key="crash-1")
    status, accepted = daemon.call("POST", "/api/v1/check/sell", body, headers={"Prefer": "respond-async"})
    assert status == 202, accepted
    deadline = time.monotonic() + 30
    while not sim.receipts():  # the device committed the receipt; its reply is still held back
        assert time.monotonic() < deadline
        time.sleep(0.02)
    status, check = daemon.call("GET", f"/api/v1/check/{accepted['fiscal_check_id']}")
    assert check["status"] == "in_progress"
    daemon.kill()

    restarted = DaemonProcess.start(daemon.config)
    processes["daemons"].append(restarted)
    status, again = restarted.call("POST", "/api/v1/check/sell", body)
    assert status == 200, again
    assert again["replay"] is True and again["fiscal_check_id"] == accepted["fiscal_check_id"]
    [receipt] = sim.receipts()
    assert again["fiscal_sign"] == receipt["fiscal_sign"] and again["document_number"] == receipt["number"]


def test_sigkill_before_the_receipt_closed_then_retry(processes: dict[str, Any], tmp_path: Path) -> None:
    """Killed while the receipt is open on the device (an item's reply held back): recovery cancels it and
    prints the receipt once."""
    sim, daemon = _start(processes, tmp_path, "--fault", "stall:seconds=4,cmd=E6")
    body = sale(idempotency_key="crash-2")
    status, accepted = daemon.call("POST", "/api/v1/check/sell", body, headers={"Prefer": "respond-async"})
    assert status == 202
    daemon.wait_status(accepted["fiscal_check_id"], ("in_progress",))
    time.sleep(0.5)  # let the item reach the device (its reply is held for 4 s; no assertion on time)
    daemon.kill()
    restarted = DaemonProcess.start(daemon.config)
    processes["daemons"].append(restarted)
    status, again = restarted.call("POST", "/api/v1/check/sell", body)
    assert status == 200, again
    [receipt] = sim.receipts()
    assert again["fiscal_sign"] == receipt["fiscal_sign"] and receipt["total"] == 130000


def test_sigterm_finishes_the_receipt_in_flight(processes: dict[str, Any], tmp_path: Path) -> None:
    sim, daemon = _start(processes, tmp_path, "--fault", "stall:seconds=1,cmd=4A")
    result: dict[str, Any] = {}

    def sell() -> None:
        result["answer"] = daemon.call("POST", "/api/v1/check/sell", sale(idempotency_key="term-1"))

    seller = threading.Thread(target=sell)
    seller.start()
    deadline = time.monotonic() + 30
    while not sim.receipts():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert daemon.terminate() == 0
    seller.join(30)
    status, sold = result["answer"]
    assert status == 200 and sold["fiscal_sign"] == sim.receipts()[0]["fiscal_sign"]
