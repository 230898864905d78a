"""Job -> operation planning, expectations, and the stored result of a document."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from workers_testutil import sell_body

from kkm_bridge.driver.api import DocumentKind, FiscalDocument
from kkm_bridge.driver.errors import LinkTimeout, PaperOut, ReceiptNotSupported, ShiftPolicyRefused
from kkm_bridge.journal import Job, JobState, Priority
from kkm_bridge.workers import PlanError, default_planner, is_refusal_code
from kkm_bridge.workers.failures import refusal_of
from kkm_bridge.workers.operations import (
    CashIn,
    CashOut,
    CloseShift,
    Fiscalize,
    OpenShift,
    PrintText,
    SetDateTime,
    XReport,
    expectation,
    result_from_document,
)


def job(kind: str, request: dict[str, Any]) -> Job:
    now = datetime(2026, 1, 5, 4, 30, tzinfo=UTC)
    return Job(job_id="j1", seq=1, kind=kind, device_id="d", scope="d", priority=Priority.INTERACTIVE,
               idempotency_key=None, order_id=None, body_hash="", request=request, state=JobState.IN_PROGRESS,
               attempts=1, deadline=None, preflight=None, preflight_at=None, result=None, error_code=None,
               error_message=None, shift_number=None, document_number=None, fiscal_sign=None, created_at=now,
               updated_at=now, started_at=now, finished_at=None)


def test_sell_body_plans_a_receipt_with_its_expected_document() -> None:
    op = default_planner(job("sell", sell_body("500.00", "2")))
    assert isinstance(op, Fiscalize) and op.receipt.total == 100000
    exp = expectation(op)
    assert exp is not None and exp.kind is DocumentKind.SELL and exp.total == 100000


def test_operation_defaults_to_job_kind_and_date_to_acceptance_time() -> None:
    body = sell_body()
    del body["operation"], body["date_time"]
    op = default_planner(job("sell_return", body))
    assert isinstance(op, Fiscalize)
    assert op.receipt.operation.value == "sell_return"
    assert op.receipt.date_time.tzinfo is None


def test_mismatched_or_broken_bodies_are_plan_errors() -> None:
    with pytest.raises(PlanError, match="does not match"):
        default_planner(job("sell", {**sell_body(), "operation": "buy"}))
    with pytest.raises(PlanError, match="does not parse"):
        default_planner(job("sell", {"operation": "sell", "items": "x"}))
    with pytest.raises(PlanError):
        default_planner(job("cash_in", {"amount": "abc"}))
    with pytest.raises(PlanError):
        default_planner(job("print_text", {"lines": [1]}))
    with pytest.raises(PlanError, match="no device operation"):
        default_planner(job("teleport", {}))


def test_other_kinds() -> None:
    cash = default_planner(job("cash_in", {"amount": "1000.50"}))
    assert cash == CashIn(100050)
    assert expectation(cash).total == 100050  # type: ignore[union-attr]
    assert default_planner(job("cash_out", {"amount": 5})) == CashOut(500)
    assert expectation(CashOut(500)).kind is DocumentKind.CASH_OUT  # type: ignore[union-attr]
    assert default_planner(job("shift_open", {"cashier": "Aigerim"})) == OpenShift("Aigerim")
    close = default_planner(job("shift_close", {}))
    assert close == CloseShift(None) and expectation(close).total is None  # type: ignore[union-attr]
    assert default_planner(job("x_report", {})) == XReport() and expectation(XReport()) is None
    assert default_planner(job("print_text", {"lines": ["a", "b"]})) == PrintText(("a", "b"))
    assert default_planner(job("set_datetime", {"date_time": "2026-01-05T10:30:00"})) == SetDateTime(
        datetime(2026, 1, 5, 10, 30))


def test_result_from_document_money_in_major_units() -> None:
    op = default_planner(job("sell", sell_body("500.00", "1", pay="1000")))
    document = FiscalDocument(number=7, kind=DocumentKind.SELL, date_time=datetime(2026, 1, 5, 10, 30),
                              fiscal_sign="123456", total=50000, shift_number=2, receipt_number=1,
                              vat={"none": 0})
    result = result_from_document(op, document, {"change": 50000})
    data = result.to_dict()
    assert data["total"] == "500.00" and data["change"] == "500.00" and data["document_number"] == 7
    assert result.total == Decimal("500.00") and data["total_minor"] == 50000 and data["recovered"] is False
    recovered = result_from_document(None, document, recovered=True).to_dict()
    assert recovered["recovered"] is True and "change" not in recovered
    assert result_from_document(XReport(), None).to_dict()["fiscal_sign"] is None


def test_refusal_classification() -> None:
    refusal = refusal_of(PaperOut(0x67))
    assert refusal is not None and refusal.error_code == "device:no_paper"
    assert refusal.error_message.startswith("[0x67]") and is_refusal_code(refusal.error_code)
    assert refusal_of(LinkTimeout("silent")) is None
    assert refusal_of(RuntimeError("bug")) is None  # unknown -> outcome unknown, never "refused"
    policy = refusal_of(ShiftPolicyRefused("shift over 24 h"))
    assert policy is not None and policy.error_code == "device:shift_policy_refused" and policy.code is None
    assert refusal_of(ReceiptNotSupported("no tax slot")).error_code == "device:receipt_not_supported"  # type: ignore[union-attr]
    assert not is_refusal_code(None) and not is_refusal_code("device_unreachable")
