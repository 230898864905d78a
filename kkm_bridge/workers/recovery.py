"""Exactly-once recovery: what did the device really do with a job whose outcome we did not see?

A job's commands may have reached the device when the reply was lost (power cut after the close-receipt
command, link drop, corrupted frames, the daemon killed). Sending the receipt again could print it twice;
failing it could lose a sale that was printed. So before a job's first command goes out the worker records
``Preflight`` facts durably in the journal (the device's last fiscal document number, its shift, whether a
receipt was open, and what document the job is expected to produce). Afterwards it asks the device again
and ``decide`` compares the two.

``decide`` is a pure function on purpose: every branch is a unit test, no device or clock needed.

The rule, in order:

1. No pre-flight facts: the job's commands were never sent (the worker records them first) -> RETRY.
2. The device's document counter went backwards, or the pre-flight document number is unknown: the facts
   cannot be trusted (fiscal storage replaced, another device on this port) -> MANUAL.
3. Look at the documents closed after the pre-flight number, oldest first, skipping the ones a device makes
   on its own around a receipt (an automatic shift open, a Z report closing an expired shift). The first
   remaining one is the job's document if it has the expected kind and total -> DONE. If it is something
   else, someone else used the device, or our totals disagree with the device's: printing again could
   duplicate a sale, so -> MANUAL.
4. No such document: if a receipt is open on the device, it is ours, cut off before closing
   -> CANCEL_THEN_RETRY; otherwise nothing happened -> RETRY.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kkm_bridge.driver.api import DeviceStatus, DocumentKind, FiscalDocument
from kkm_bridge.journal import PreflightFacts

__all__ = [
    "Action", "Decision", "Preflight", "RECEIPT_KINDS", "SHIFT_KINDS", "decide", "documents_to_read",
]

#: Documents a receipt or cash operation of ours could have produced (anything else of these kinds after
#: the pre-flight number, before our document, means someone else printed).
RECEIPT_KINDS = frozenset({
    DocumentKind.SELL, DocumentKind.SELL_RETURN, DocumentKind.BUY, DocumentKind.BUY_RETURN,
})
CASH_KINDS = frozenset({DocumentKind.CASH_IN, DocumentKind.CASH_OUT})
#: Documents the device (or the driver's shift policy) creates around a receipt without being asked.
SHIFT_KINDS = frozenset({DocumentKind.SHIFT_OPEN, DocumentKind.SHIFT_CLOSE})


class Action(StrEnum):
    DONE = "done"  # the job's document exists: recover its data from the device, complete the job
    RETRY = "retry"  # nothing was printed: safe to send the job again
    CANCEL_THEN_RETRY = "cancel_then_retry"  # a receipt is open (ours, cut off): cancel it, then retry
    MANUAL = "manual"  # the facts contradict each other: do not print, leave the job for an operator


@dataclass(frozen=True)
class Preflight:
    """What the worker recorded before sending a job's commands, plus what the job should produce.

    ``expected_kind`` is None for jobs that produce no fiscal document (X report, print text...); for those
    ``decide`` answers RETRY or CANCEL_THEN_RETRY and the worker decides whether re-running is harmless.
    ``expected_total`` (minor units) is None when the total is not a useful fingerprint (shift close).
    """

    last_document_number: int | None
    shift_number: int | None
    receipt_open: bool | None
    shift_open: bool | None = None
    expected_kind: DocumentKind | None = None
    expected_total: int | None = None

    def to_facts(self) -> PreflightFacts:
        extra: dict[str, Any] = {}
        if self.expected_kind is not None:
            extra["expected_kind"] = self.expected_kind.value
        if self.expected_total is not None:
            extra["expected_total"] = self.expected_total
        return PreflightFacts(
            last_document_number=self.last_document_number,
            shift_number=self.shift_number,
            receipt_open=self.receipt_open,
            shift_open=self.shift_open,
            extra=extra,
        )

    @classmethod
    def from_facts(cls, facts: PreflightFacts) -> Preflight:
        extra: Mapping[str, Any] = facts.extra or {}
        kind = extra.get("expected_kind")
        total = extra.get("expected_total")
        return cls(
            last_document_number=facts.last_document_number,
            shift_number=facts.shift_number,
            receipt_open=facts.receipt_open,
            shift_open=facts.shift_open,
            expected_kind=DocumentKind(kind) if kind is not None else None,
            expected_total=int(total) if total is not None else None,
        )


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    document: FiscalDocument | None = None  # set for DONE


def _skippable(kind: DocumentKind, expected: DocumentKind | None) -> bool:
    """Documents that may appear before the job's own without anyone else having used the device."""
    if expected in SHIFT_KINDS:
        # A shift job: only a document of the same kind is evidence either way (a Z report before an
        # automatic shift open, or the other way round, is the device's own doing).
        return kind != expected
    return kind in SHIFT_KINDS


def documents_to_read(preflight: Preflight | None, status: DeviceStatus, limit: int = 16) -> range:
    """Which document numbers the worker should read for ``decide`` (at most ``limit``: ``decide`` only
    needs documents up to the first one that is not skippable, the worker stops reading there)."""
    if preflight is None or preflight.last_document_number is None:
        return range(0)
    start = preflight.last_document_number + 1
    stop = min(status.last_document_number, preflight.last_document_number + limit) + 1
    return range(start, max(start, stop))


def decide(
    preflight: Preflight | None,
    device_status: DeviceStatus,
    documents_since: Sequence[FiscalDocument],
) -> Decision:
    """Decide what to do with an in-flight job. See the module docstring for the rule.

    ``documents_since``: the documents numbered after ``preflight.last_document_number``, oldest first; the
    caller may stop after the first document that is not a shift open/close (nothing later matters).
    """
    if preflight is None:
        return Decision(Action.RETRY, "no pre-flight facts: the job's commands were never sent")
    before = preflight.last_document_number
    if before is None:
        return Decision(Action.MANUAL, "pre-flight facts lack the last document number")
    now = device_status.last_document_number
    if now < before:
        return Decision(
            Action.MANUAL,
            f"the device's last document number went back from {before} to {now} (fiscal storage replaced?)",
        )

    expected = preflight.expected_kind
    seen = sorted((d for d in documents_since if d.number > before), key=lambda d: d.number)
    expected_number = before + 1
    for document in seen:
        if document.number != expected_number:
            return Decision(
                Action.MANUAL, f"document {expected_number} is missing from the documents read after {before}"
            )
        expected_number += 1
        if _skippable(document.kind, expected):
            continue
        if expected is None:
            return Decision(
                Action.MANUAL,
                f"document {document.number} ({document.kind}) appeared for a job that makes no document",
            )
        if document.kind != expected:
            return Decision(
                Action.MANUAL,
                f"document {document.number} is a {document.kind}, expected {expected}: someone else used the device",
            )
        if preflight.expected_total is not None and document.total != preflight.expected_total:
            return Decision(
                Action.MANUAL,
                f"document {document.number} total {document.total} differs from the job's {preflight.expected_total}",
            )
        return Decision(Action.DONE, f"document {document.number} is the job's {expected}", document)

    if expected_number <= now:
        # Only skippable documents were read and more exist: the caller stopped too early.
        return Decision(Action.MANUAL, f"documents {expected_number}..{now} were not read")
    if device_status.receipt_open:
        return Decision(Action.CANCEL_THEN_RETRY, "a receipt is open on the device and no document was closed")
    return Decision(Action.RETRY, f"no document after {before} and no receipt open: nothing was printed")
