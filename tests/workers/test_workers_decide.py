"""``decide``: every branch of the exactly-once rule, with plain data (no device, no clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kkm_bridge.driver.api import DeviceStatus, DocumentKind, FiscalDocument, ShiftState
from kkm_bridge.journal import PreflightFacts
from kkm_bridge.workers.recovery import Action, Preflight, decide, documents_to_read

K = DocumentKind
NOW = datetime(2026, 1, 5, 10, 30)


def status(last: int, *, receipt_open: bool = False, shift: int = 3) -> DeviceStatus:
    return DeviceStatus(
        shift_state=ShiftState.OPEN, shift_number=shift, receipt_open=receipt_open,
        receipt_kind=K.SELL if receipt_open else None, receipt_total=0, last_document_number=last,
        paper_present=True, cover_open=False, drawer_open=False, device_time=NOW,
    )


def doc(number: int, kind: DocumentKind = K.SELL, total: int = 50000) -> FiscalDocument:
    return FiscalDocument(number=number, kind=kind, date_time=NOW, fiscal_sign=f"FS{number}", total=total,
                          shift_number=3)


def pre(last: int | None = 10, kind: DocumentKind | None = K.SELL, total: int | None = 50000,
        receipt_open: bool = False) -> Preflight:
    return Preflight(last_document_number=last, shift_number=3, receipt_open=receipt_open, shift_open=True,
                     expected_kind=kind, expected_total=total)


def test_no_preflight_means_never_sent() -> None:
    assert decide(None, status(10), []).action is Action.RETRY
    assert decide(None, status(10, receipt_open=True), []).action is Action.RETRY


def test_nothing_happened_retry() -> None:
    decision = decide(pre(), status(10), [])
    assert decision.action is Action.RETRY and decision.document is None


def test_open_receipt_cancel_then_retry() -> None:
    assert decide(pre(), status(10, receipt_open=True), []).action is Action.CANCEL_THEN_RETRY


def test_printed_receipt_done() -> None:
    decision = decide(pre(), status(11), [doc(11)])
    assert decision.action is Action.DONE
    assert decision.document == doc(11)


def test_done_even_if_a_later_receipt_is_open() -> None:
    # Our receipt closed; something opened another one afterwards: ours is still done.
    assert decide(pre(), status(11, receipt_open=True), [doc(11)]).action is Action.DONE


def test_auto_shift_open_before_receipt_is_skipped() -> None:
    decision = decide(pre(), status(12), [doc(11, K.SHIFT_OPEN, 0), doc(12)])
    assert decision.action is Action.DONE and decision.document is not None and decision.document.number == 12


def test_expired_shift_closed_and_reopened_before_receipt() -> None:
    docs = [doc(11, K.SHIFT_CLOSE, 0), doc(12, K.SHIFT_OPEN, 0), doc(13)]
    decision = decide(pre(), status(13), docs)
    assert decision.action is Action.DONE and decision.document == doc(13)


def test_auto_shift_open_but_receipt_not_closed() -> None:
    # The shift-open document exists, the receipt was cut off while open.
    assert decide(pre(), status(11, receipt_open=True), [doc(11, K.SHIFT_OPEN, 0)]).action is Action.CANCEL_THEN_RETRY
    # ... or never opened.
    assert decide(pre(), status(11), [doc(11, K.SHIFT_OPEN, 0)]).action is Action.RETRY


def test_only_shift_documents_but_not_all_read_is_manual() -> None:
    decision = decide(pre(), status(13), [doc(11, K.SHIFT_OPEN, 0)])
    assert decision.action is Action.MANUAL and "not read" in decision.reason


def test_gap_in_documents_is_manual() -> None:
    assert decide(pre(), status(12), [doc(12)]).action is Action.MANUAL


def test_documents_up_to_preflight_are_ignored() -> None:
    assert decide(pre(), status(11), [doc(9), doc(10), doc(11)]).action is Action.DONE


def test_unsorted_documents_are_sorted() -> None:
    decision = decide(pre(), status(12), [doc(12), doc(11, K.SHIFT_OPEN, 0)])
    assert decision.action is Action.DONE and decision.document == doc(12)


def test_total_mismatch_is_manual_never_retry() -> None:
    decision = decide(pre(total=50000), status(11), [doc(11, total=50001)])
    assert decision.action is Action.MANUAL and "total" in decision.reason


def test_kind_mismatch_is_manual() -> None:
    assert decide(pre(kind=K.SELL), status(11), [doc(11, K.SELL_RETURN)]).action is Action.MANUAL
    assert decide(pre(kind=K.SELL), status(11), [doc(11, K.CASH_IN)]).action is Action.MANUAL
    assert decide(pre(kind=K.SELL), status(11), [doc(11, K.OTHER)]).action is Action.MANUAL


def test_counter_went_backwards_is_manual() -> None:
    assert decide(pre(last=10), status(5), []).action is Action.MANUAL


def test_unknown_preflight_number_is_manual() -> None:
    assert decide(pre(last=None), status(5), []).action is Action.MANUAL


def test_cash_operations() -> None:
    p = pre(kind=K.CASH_IN, total=100000)
    assert decide(p, status(11), [doc(11, K.CASH_IN, 100000)]).action is Action.DONE
    assert decide(p, status(12), [doc(11, K.SHIFT_OPEN, 0), doc(12, K.CASH_IN, 100000)]).action is Action.DONE
    assert decide(p, status(10), []).action is Action.RETRY


def test_total_not_checked_when_not_expected() -> None:
    p = pre(kind=K.SHIFT_CLOSE, total=None)
    assert decide(p, status(11), [doc(11, K.SHIFT_CLOSE, 123)]).action is Action.DONE


def test_shift_close_job_skips_other_kinds_but_finds_its_z_report() -> None:
    p = pre(kind=K.SHIFT_CLOSE, total=None)
    assert decide(p, status(10), []).action is Action.RETRY
    decision = decide(p, status(12), [doc(11, K.SHIFT_OPEN, 0), doc(12, K.SHIFT_CLOSE, 0)])
    assert decision.action is Action.DONE and decision.document is not None and decision.document.number == 12


def test_shift_open_job() -> None:
    p = pre(kind=K.SHIFT_OPEN, total=None)
    assert decide(p, status(11), [doc(11, K.SHIFT_OPEN, 0)]).action is Action.DONE
    assert decide(p, status(10), []).action is Action.RETRY


def test_job_without_document() -> None:
    p = pre(kind=None, total=None)
    assert decide(p, status(10), []).action is Action.RETRY
    assert decide(p, status(10, receipt_open=True), []).action is Action.CANCEL_THEN_RETRY
    assert decide(p, status(11), [doc(11, K.SHIFT_OPEN, 0)]).action is Action.RETRY
    assert decide(p, status(11), [doc(11)]).action is Action.MANUAL


def test_preflight_round_trips_through_journal_facts() -> None:
    p = pre()
    assert Preflight.from_facts(p.to_facts()) == p
    bare = Preflight.from_facts(PreflightFacts(last_document_number=4, shift_number=None, receipt_open=False))
    assert bare.expected_kind is None and bare.expected_total is None


def test_documents_to_read() -> None:
    assert list(documents_to_read(pre(last=10), status(13))) == [11, 12, 13]
    assert list(documents_to_read(pre(last=10), status(10))) == []
    assert list(documents_to_read(pre(last=10), status(5))) == []
    assert list(documents_to_read(None, status(5))) == []
    assert len(documents_to_read(pre(last=10), status(1000), limit=16)) == 16


@pytest.mark.parametrize("receipt_open", [False, True])
def test_a_printed_document_is_never_retried(receipt_open: bool) -> None:
    """The safety property in one line: a matching document after the pre-flight number -> DONE."""
    assert decide(pre(), status(11, receipt_open=receipt_open), [doc(11)]).action is Action.DONE


kinds = st.sampled_from(list(DocumentKind))


@given(
    before=st.integers(0, 1000),
    kinds_after=st.lists(kinds, max_size=6),
    expected=st.sampled_from([K.SELL, K.SELL_RETURN, K.BUY, K.BUY_RETURN, K.CASH_IN, K.CASH_OUT]),
    total=st.integers(0, 10**9),
    receipt_open=st.booleans(),
)
def test_property_retry_only_when_no_candidate_document(
    before: int, kinds_after: list[DocumentKind], expected: DocumentKind, total: int, receipt_open: bool
) -> None:
    """RETRY / CANCEL_THEN_RETRY only if every document after the pre-flight number is a shift document;
    DONE only with the first non-shift document matching kind and total."""
    docs = [doc(before + 1 + i, kind, total) for i, kind in enumerate(kinds_after)]
    p = replace(pre(last=before, kind=expected, total=total))
    decision = decide(p, status(before + len(docs), receipt_open=receipt_open), docs)
    others = [d for d in docs if d.kind not in (K.SHIFT_OPEN, K.SHIFT_CLOSE)]
    if decision.action in (Action.RETRY, Action.CANCEL_THEN_RETRY):
        assert not others
    if others:
        assert decision.action in (Action.DONE, Action.MANUAL)
        assert (decision.action is Action.DONE) == (others[0].kind == expected)
        if decision.action is Action.DONE:
            assert decision.document == others[0]
