"""Shifts, reports, cash, status; async mode and priorities; device refusals, unreachable devices and full queues."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

from http_testutil import StartApi
from http_testutil import Api, device_settings, journal_jobs, make_config, make_simulator, sell_body

from kkm_bridge.config import Config, DeviceSettings
from simulators.atol import Simulator


def kinds(sim: Simulator) -> list[str]:
    return [d.kind for d in sim.documents]


async def test_shift_cash_and_reports(api: Api, simulator: Simulator) -> None:
    status, opened, _ = await api.post("/api/v1/shift/open", {"cashier": "Aigerim"})
    assert status == 200 and opened["status"] == "done" and opened["operation"] == "shift_open"
    assert opened["shift_number"] == 1 and opened["document_number"] == simulator.documents[-1].number
    status, cash, _ = await api.post("/api/v1/cash/in", {"sum": "1000.50"})
    assert status == 200 and cash["total"] == "1000.50"
    await api.post("/api/v1/check/sell", sell_body())
    status, out, _ = await api.post("/api/v1/cash/out", {"sum": 200})
    assert status == 200 and out["total"] == "200.00"
    status, x, _ = await api.post("/api/v1/report/x")
    assert status == 200 and x["status"] == "done" and x["document_number"] is None
    status, z, _ = await api.post("/api/v1/shift/close", {})
    assert status == 200 and z["operation"] == "shift_close"
    assert kinds(simulator) == ["shift_open", "cash_in", "receipt", "cash_out", "shift_close"]
    assert simulator.documents[1].total == 100050
    status, fetched, _ = await api.get(f"/api/v1/operation/{z['operation_id']}")
    assert status == 200 and fetched["document_number"] == z["document_number"]
    status, error, _ = await api.post("/api/v1/cash/in", {"sum": "-5"})
    assert status == 400 and error["error"]["details"][0]["path"] == "/sum"
    status, error, _ = await api.post("/api/v1/cash/in", {})
    assert status == 400 and error["error"]["code"] == "missing_field"
    assert len(simulator.documents) == 5


async def test_register_and_status(api: Api, simulator: Simulator) -> None:
    status, body, _ = await api.post("/api/v1/fiscal/register", {"fiscal_number": "9999078900001234",
                                                                  "work_start": "2026-01-01"})
    assert status == 200 and body["fiscal_id"] == "FL2026000001" and body["device_id"] == "kkm1"
    status, body, _ = await api.post("/api/v1/fiscal/register", {"fiscal_number": "000"})
    assert status == 404
    await api.post("/api/v1/check/sell", sell_body())
    status, body, _ = await api.get("/api/v1/device/status")
    assert status == 200
    [device] = body["devices"]
    assert device["online"] is True and device["shift_state"] == "open"
    assert device["last_document_number"] == simulator.documents[-1].number
    assert device["paper_present"] is True and device["queue"] == 0


async def test_device_refusal_is_422_with_the_device_code(api: Api, simulator: Simulator, config: Config) -> None:
    await api.post("/api/v1/shift/open")
    simulator.device.paper_present = False
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(idempotency_key="paper"))
    assert status == 422, error
    assert error["error"]["code"] == "device_refused"
    assert error["error"]["device_code"] == 0x67 and error["error"]["device_error"]
    assert kinds(simulator) == ["shift_open"]
    [job] = [j for j in journal_jobs(config) if j.kind == "sell"]
    assert job.state == "failed"
    status, check, _ = await api.get(f"/api/v1/check/{error['error']['fiscal_check_id']}")
    assert status == 200 and check["status"] == "failed" and check["error"]["device_code"] == 0x67
    # Paper refilled: the same request with the same key runs the job again and prints it once.
    simulator.device.paper_present = True
    status, again, _ = await api.post("/api/v1/check/sell", sell_body(idempotency_key="paper"))
    assert status == 200 and again["replay"] is True and again["fiscal_check_id"] == check["fiscal_check_id"]
    assert kinds(simulator) == ["shift_open", "receipt"]


async def test_async_mode_answers_202_and_runs_in_the_background(api: Api, simulator: Simulator) -> None:
    status, accepted, headers = await api.post("/api/v1/check/sell", sell_body(), headers={"Prefer": "respond-async"})
    assert status == 202, accepted
    assert headers["Location"] == accepted["status_url"] and accepted["status"] in ("accepted", "in_progress", "done")
    done = await api.wait_done(accepted["status_url"])
    assert done["status"] == "done" and done["fiscal_sign"]
    status, accepted, _ = await api.post("/api/v1/check/sell", sell_body(**{"async": True, "idempotency_key": "a1"}))
    assert status in (200, 202)
    done = await api.wait_done(accepted["status_url"])
    assert done["fiscal_sign"] and len([k for k in kinds(simulator) if k == "receipt"]) == 2


async def test_interactive_sales_go_ahead_of_queued_background_ones(
    start_api: StartApi, settings: DeviceSettings, tmp_path: Path
) -> None:
    simulator = make_simulator(settings, command_seconds=0.01)
    api = await start_api(make_config(tmp_path, (settings,)))
    background = []
    for index in range(3):
        status, body, _ = await api.post("/api/v1/check/sell", sell_body(idempotency_key=f"bg{index}"),
                                         headers={"Prefer": "respond-async"})
        assert status == 202
        background.append(body)
    status, interactive, _ = await api.post("/api/v1/check/sell", sell_body())
    assert status == 200
    finished = [await api.wait_done(b["status_url"]) for b in background]
    # The first background job may already have been running; the others waited for the cashier's sale.
    later = [b["document_number"] for b in finished[1:]]
    assert all(interactive["document_number"] < number for number in later)
    assert len([d for d in simulator.documents if d.kind == "receipt"]) == 4


async def test_full_queue_is_429_and_nothing_journalled(
    start_api: StartApi, settings: DeviceSettings, tmp_path: Path
) -> None:
    simulator = make_simulator(settings, command_seconds=0.02)
    config = make_config(tmp_path, (settings,), queue_size=1)
    api = await start_api(config)
    _, first, _ = await api.post("/api/v1/check/sell", sell_body(), headers={"Prefer": "respond-async"})
    async with asyncio.timeout(10):
        while (await api.get(f"/api/v1/check/{first['fiscal_check_id']}"))[1]["status"] == "accepted":
            await asyncio.sleep(0.005)
    status, second, _ = await api.post("/api/v1/check/sell", sell_body(), headers={"Prefer": "respond-async"})
    assert status == 202
    status, error, headers = await api.post("/api/v1/check/sell", sell_body(idempotency_key="third"),
                                            headers={"Prefer": "respond-async"})
    assert status == 429 and error["error"]["code"] == "queue_full" and int(headers["Retry-After"]) >= 1
    for body in (first, second):
        await api.wait_done(body["status_url"])
    assert len(journal_jobs(config)) == 2
    assert len([d for d in simulator.documents if d.kind == "receipt"]) == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_device_is_503_in_sync_mode(start_api: StartApi, tmp_path: Path) -> None:
    settings = device_settings("unused", tmp_path, uri=f"tcp://127.0.0.1:{_closed_port()}")
    config = make_config(tmp_path, (settings,))
    api = await start_api(config)
    async with asyncio.timeout(10):
        while (await api.get("/healthz"))[1]["devices"]["kkm1"]:
            await asyncio.sleep(0.01)
    status, error, headers = await api.post("/api/v1/check/sell", sell_body())
    assert status == 503 and error["error"]["code"] == "device_unavailable" and int(headers["Retry-After"]) >= 1
    assert journal_jobs(config) == []
    status, body, _ = await api.get("/api/v1/device/status")
    assert status == 200 and body["devices"][0]["online"] is False
    # Async mode still takes the order: it is journalled and waits for the device.
    status, accepted, _ = await api.post("/api/v1/check/sell", sell_body(), headers={"Prefer": "respond-async"})
    assert status == 202 and accepted["status"] == "accepted"


async def test_sync_timeout_is_503_and_the_retry_returns_the_printed_check(
    start_api: StartApi, settings: DeviceSettings, tmp_path: Path
) -> None:
    simulator = make_simulator(settings, command_seconds=0.05)
    config = make_config(tmp_path, (settings,), sync_timeout=0.1)
    api = await start_api(dataclasses.replace(config))
    status, error, headers = await api.post("/api/v1/check/sell", sell_body(idempotency_key="slow"))
    assert status == 503 and error["error"]["code"] == "device_timeout" and headers["Retry-After"]
    check_id = error["error"]["fiscal_check_id"]
    done = await api.wait_done(f"{api.url}/api/v1/check/{check_id}")
    status, again, _ = await api.post("/api/v1/check/sell", sell_body(idempotency_key="slow"))
    assert status == 200 and again["replay"] is True and again["fiscal_sign"] == done["fiscal_sign"]
    assert len([d for d in simulator.documents if d.kind == "receipt"]) == 1
