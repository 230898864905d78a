"""Sell and refund over real HTTP against the embedded simulator: results, validation errors, idempotency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from http_testutil import MILK, Api, journal_jobs, sell_body

from kkm_bridge.config import Config
from simulators.atol import Simulator


def receipts(sim: Simulator) -> list[Any]:
    return [d for d in sim.documents if d.kind == "receipt"]


async def test_sell_returns_fiscal_details_matching_fiscal_memory(api: Api, simulator: Simulator) -> None:
    body = sell_body(client={"bin_iin": "Not specified", "email": "buyer@example.com"}, cashier="Aigerim")
    status, check, _ = await api.post("/api/v1/check/sell", body)
    assert status == 200, check
    assert check["success"] is True and check["status"] == "done" and check["replay"] is False
    [document] = receipts(simulator)
    assert check["fiscal_sign"] == document.fiscal_sign
    assert check["document_number"] == document.number
    assert check["shift_number"] == document.shift_number
    assert check["receipt_number"] == document.receipt_number
    assert check["total"] == "500.00" and document.total == 50000
    assert check["vat"] == [{"rate": "16", "sum": "68.97"}]
    assert check["registration_number"] == "032600010282" and check["factory_number"] == "SWK00033717"
    assert check["offline"] is False and check["send_status"] == "printed"
    stamp = document.date_time.replace("-", "").replace(":", "")
    assert check["check_url"] == (f"http://consumer.oofd.kz?i={document.fiscal_sign}&f=032600010282"
                                  f"&s=500.00&t={stamp}")
    assert check["qr_code"] == f"{api.url}/api/v1/check/{check['fiscal_check_id']}/qr"
    # The QR image is served without a token (the unguessable id is the key) and is a PNG.
    status, png, headers = await api.get(check["qr_code"].split(api.url, 1)[1], auth="")
    assert status == 200 and headers["Content-Type"] == "image/png" and png.startswith(b"\x89PNG")
    # The printed QR payload (simulator tape) is the same URL.
    assert simulator.device.tape[-1].qr == check["check_url"]


async def test_amounts_as_strings_are_exact_and_split_payments_give_change(api: Api, simulator: Simulator) -> None:
    body = {
        "items": [{"name": "Bread", "quantity": "3", "price": "0.10", "vat_rate": "16", "measurement": 796},
                  {"name": "Cheese", "quantity": "0.25", "price": "4000.04", "vat_rate": "none",
                   "measurement": "kg"}],
        "total_sum": "1000.31",
        "payments": [{"type": "card", "sum": "500"}, {"type": "cash", "sum": 1000}],
    }
    status, check, _ = await api.post("/api/v1/check/sell", body)
    assert status == 200, check
    assert check["total"] == "1000.31" and check["change"] == "499.69"
    [document] = receipts(simulator)
    assert document.total == 100031
    assert {p["type"]: p["amount"] for p in document.payments} == {2: 50000, 1: 100000}


@pytest.mark.parametrize(
    ("change", "code", "path", "needle"),
    [
        ({"items": [{**MILK, "vat_rate": 12}]}, "vat_rate_not_allowed", "/items/0/vat_rate", "Incorrect VAT rate"),
        ({"total_sum": 499}, "total_mismatch", "/total_sum", "500.00"),
        ({"client": {"bin_iin": "900101300127"}}, "bad_iin_checksum", "/client/bin_iin", "check digit"),
        ({"items": [{**MILK, "qty": 1}]}, "unknown_field", "/items/0/qty", "unknown field"),
        ({"items": [{**MILK, "price": "12,50"}]}, "invalid_field", "/items/0/price", "decimal"),
        ({"items": [{**MILK, "price": "0.001"}]}, "too_many_decimals", "/items/0/price", "decimal places"),
        ({"items": [{k: v for k, v in MILK.items() if k != "vat_rate"}]}, "missing_field", "/items/0/vat_rate",
         "vat_rate"),
        ({"items": [{**MILK, "measurement": "parsec"}]}, "unknown_unit", "/items/0/measurement", "unit"),
        ({"items": [{**MILK, "vat_sum": 60}]}, "vat_sum_mismatch", "/items/0/vat_sum", "68.97"),
        ({"payment_type": "barter"}, "bad_payment_type", "/payment_type", "allowed"),
        ({"items": []}, "no_items", "/items", "item"),
        ({"items": [{**MILK, "price": "1e999999999"}]}, "value_too_large", "/items/0/price", "large"),
        ({"items": [{**MILK, "quantity": "1e-999999999"}]}, "too_many_decimals", "/items/0/quantity", "decimal"),
        ({"items": [{**MILK, "price": "NaN"}]}, "not_finite", "/items/0/price", "finite"),
    ],
)
async def test_bad_input_is_400_with_path_and_nothing_printed(
    api: Api, simulator: Simulator, config: Config, change: dict[str, Any], code: str, path: str, needle: str
) -> None:
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(**change))
    assert status == 400, error
    assert error["success"] is False
    assert error["error"]["code"] == code
    assert {"path": path, "code": code} in [{"path": d["path"], "code": d["code"]} for d in error["error"]["details"]]
    assert needle.lower() in error["error"]["message"].lower()
    assert simulator.documents == [] and journal_jobs(config) == []


async def test_vat_rate_error_lists_the_allowed_rates(api: Api) -> None:
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(items=[{**MILK, "vat_rate": 12}]))
    assert status == 400
    assert error["error"]["message"].startswith("Incorrect VAT rate 12")
    assert "16, 10, 5, 0, none" in error["error"]["message"]


async def test_every_problem_is_reported_at_once(api: Api) -> None:
    body = sell_body(items=[{**MILK, "vat_rate": 12}, {**MILK, "price": "-1"}], client={"bin_iin": "1"})
    status, error, _ = await api.post("/api/v1/check/sell", body)
    assert status == 400
    paths = {d["path"] for d in error["error"]["details"]}
    assert {"/items/0/vat_rate", "/items/1/price", "/client/bin_iin"} <= paths


@pytest.mark.parametrize("raw", [b"{", b'{"items": [', b"\xff\xfe", b"[1, 2", b'{"a": 1}}'])
async def test_malformed_json_is_400_and_the_daemon_keeps_serving(
    api: Api, simulator: Simulator, raw: bytes
) -> None:
    status, error, _ = await api.post("/api/v1/check/sell", raw)
    assert status == 400 and error["error"]["code"] == "malformed_json"
    status, check, _ = await api.post("/api/v1/check/sell", sell_body())
    assert status == 200 and len(receipts(simulator)) == 1


async def test_same_key_same_body_replays_the_original(api: Api, simulator: Simulator) -> None:
    body = sell_body(idempotency_key="order-1-try")
    status, first, _ = await api.post("/api/v1/check/sell", body)
    assert status == 200
    status, again, _ = await api.post("/api/v1/check/sell", {**body, "total_sum": "500.00"})
    assert status == 200, again
    assert again["replay"] is True
    assert again["fiscal_check_id"] == first["fiscal_check_id"] and again["fiscal_sign"] == first["fiscal_sign"]
    assert len(receipts(simulator)) == 1


async def test_idempotency_key_header_works_like_the_field(api: Api, simulator: Simulator) -> None:
    headers = {"Idempotency-Key": "hdr-1"}
    _, first, _ = await api.post("/api/v1/check/sell", sell_body(), headers=headers)
    status, again, _ = await api.post("/api/v1/check/sell", sell_body(), headers=headers)
    assert status == 200 and again["replay"] is True and again["fiscal_check_id"] == first["fiscal_check_id"]
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(idempotency_key="other"), headers=headers)
    assert status == 400 and error["error"]["code"] == "conflicting_fields"
    assert len(receipts(simulator)) == 1


async def test_same_key_different_body_is_409(api: Api, simulator: Simulator) -> None:
    _, first, _ = await api.post("/api/v1/check/sell", sell_body(idempotency_key="k-409"))
    body = sell_body(idempotency_key="k-409", items=[{**MILK, "quantity": 2}], total_sum=1000)
    status, error, _ = await api.post("/api/v1/check/sell", body)
    assert status == 409
    assert error["error"]["code"] == "duplicate_check"
    assert error["error"]["fiscal_check_id"] == first["fiscal_check_id"]
    assert len(receipts(simulator)) == 1


async def test_order_id_reused_for_another_sale_is_409(api: Api, simulator: Simulator) -> None:
    await api.post("/api/v1/check/sell", sell_body(order_id="ORD-1"))
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(order_id="ORD-1", total_sum=1000,
                                                                    items=[{**MILK, "quantity": 2}]))
    assert status == 409 and error["error"]["code"] == "duplicate_check"
    assert len(receipts(simulator)) == 1


async def test_get_check_and_history(api: Api) -> None:
    _, sale, _ = await api.post("/api/v1/check/sell", sell_body())
    status, check, _ = await api.get(f"/api/v1/check/{sale['fiscal_check_id']}")
    assert status == 200 and check["fiscal_sign"] == sale["fiscal_sign"] and check["status"] == "done"
    status, listing, _ = await api.get(f"/api/v1/checks?shift={sale['shift_number']}")
    assert status == 200 and [c["fiscal_check_id"] for c in listing["checks"]] == [sale["fiscal_check_id"]]
    status, listing, _ = await api.get("/api/v1/checks?from=2000-01-01T00:00:00&to=2000-01-02T00:00:00")
    assert status == 200 and listing["checks"] == []
    for path in ("/api/v1/check/CHK0000", "/api/v1/check/..bad", "/api/v1/check/CHK0000/qr"):
        status, error, _ = await api.get(path)
        assert status == 404 and error["error"]["code"] == "not_found"
    status, error, _ = await api.get("/api/v1/checks?shift=abc")
    assert status == 400 and error["error"]["details"][0]["path"] == "/shift"


async def test_refund_by_check_id_returns_the_whole_sale(api: Api, simulator: Simulator) -> None:
    _, sale, _ = await api.post("/api/v1/check/sell", sell_body())
    status, refund, _ = await api.post("/api/v1/check/refund", {"fiscal_check_id": sale["fiscal_check_id"]})
    assert status == 200, refund
    assert refund["operation"] == "sell_return" and refund["total"] == "500.00"
    sale_doc, refund_doc = receipts(simulator)
    assert refund_doc.receipt_type == 2 and refund_doc.total == sale_doc.total


async def test_refund_by_fiscal_details_and_partial(api: Api, simulator: Simulator) -> None:
    _, sale, _ = await api.post("/api/v1/check/sell", sell_body(items=[{**MILK, "quantity": 2}], total_sum=1000))
    original = {"fiscal_sign": sale["fiscal_sign"], "date_time": sale["date_time"],
                "registration_number": sale["registration_number"], "total": sale["total"]}
    status, refund, _ = await api.post("/api/v1/check/refund", sell_body(original=original))
    assert status == 200, refund
    assert refund["total"] == "500.00"
    assert [d.total for d in receipts(simulator)] == [100000, 50000]


async def test_refund_errors(api: Api, simulator: Simulator) -> None:
    _, sale, _ = await api.post("/api/v1/check/sell", sell_body())
    status, error, _ = await api.post("/api/v1/check/refund", sell_body())
    assert status == 400 and error["error"]["code"] == "return_requires_original"
    status, error, _ = await api.post("/api/v1/check/refund", {"fiscal_check_id": "CHKNOPE"})
    assert status == 404
    body = sell_body(fiscal_check_id=sale["fiscal_check_id"], items=[{**MILK, "quantity": 3}], total_sum=1500)
    status, error, _ = await api.post("/api/v1/check/refund", body)
    assert status == 400 and error["error"]["code"] == "return_exceeds_original"
    assert error["error"]["details"][0]["path"] == "/fiscal_check_id"
    assert len(receipts(simulator)) == 1


async def test_unknown_cashbox_is_404(api: Api, simulator: Simulator) -> None:
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(fiscal_id="NOPE"))
    assert status == 404 and error["error"]["code"] == "not_found"
    assert simulator.documents == []


async def test_electronic_check_is_fiscalized_without_paper_mark(api: Api) -> None:
    body = sell_body(electronic=True, client={"bin_iin": "Not specified", "phone": "+77051234567"})
    status, check, _ = await api.post("/api/v1/check/sell", body)
    assert status == 200, check
    assert check["send_status"] == "electronic" and check["fiscal_sign"]
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(electronic=True))
    assert status == 400 and error["error"]["code"] == "electronic_requires_contact"


async def test_decimal_amount_exactness_from_json_numbers(api: Api, simulator: Simulator) -> None:
    body = {"items": [{"name": "Gum", "quantity": 3, "price": 0.1, "vat_rate": "none"}], "total_sum": 0.3,
            "payment_type": "card"}
    status, check, _ = await api.post("/api/v1/check/sell", body)
    assert status == 200, check
    assert check["total"] == "0.30" and receipts(simulator)[0].total == 30
    assert Decimal(check["total"]) == Decimal("0.3")


async def test_the_receipt_validated_by_http_is_the_one_printed_without_planning_it_again(
    api: Api, simulator: Simulator, config: Config
) -> None:
    """The HTTP layer hands the receipt it built while validating to the worker in-process: the worker does
    not plan the job from its journalled body again, and what it was handed is what the planner would make
    of that body (so a restart, which plans from the journal, prints the same receipt)."""
    import dataclasses

    from kkm_bridge.workers import default_planner
    from kkm_bridge.workers.operations import Fiscalize

    worker = api.daemon.services.manager.worker("kkm1")
    planned: list[str] = []
    handed: dict[str, Any] = {}
    submit = worker.submit

    def planner(job: Any) -> Any:
        planned.append(job.job_id)
        return default_planner(job)

    async def spy(new_job: Any, **kwargs: Any) -> Any:
        handed[new_job.job_id] = kwargs.get("plan")
        return await submit(new_job, **kwargs)

    worker.planner = planner
    worker.submit = spy  # type: ignore[method-assign]
    body = sell_body(client={"bin_iin": "Not specified"}, cashier="Aigerim")
    status, check, _ = await api.post("/api/v1/check/sell", body)
    assert status == 200, check
    status, accepted, _ = await api.post("/api/v1/check/sell", sell_body(**{"async": True}))
    assert status in (200, 202), accepted
    later = await api.wait_done(accepted["status_url"])
    assert later["status"] == "done"
    ids = [check["fiscal_check_id"], accepted["fiscal_check_id"]]
    assert planned == [] and all(isinstance(handed[i], Fiscalize) for i in ids)
    assert not worker._prebuilt  # forgotten once the job finished
    assert len(receipts(simulator)) == 2
    jobs = {job.job_id: job for job in journal_jobs(config)}
    for job_id in ids:
        rebuilt = default_planner(jobs[job_id])
        assert isinstance(rebuilt, Fiscalize)
        same_time = dataclasses.replace(handed[job_id].receipt, date_time=rebuilt.receipt.date_time)
        assert same_time == rebuilt.receipt
    # A replay hands nothing new: the existing job is answered from the journal.
    status, again, _ = await api.post("/api/v1/check/sell", {**body, "idempotency_key": "k-1"})
    status2, replay, _ = await api.post("/api/v1/check/sell", {**body, "idempotency_key": "k-1"})
    assert (status, status2) == (200, 200) and replay["replay"] is True and not worker._prebuilt
    assert planned == []
