"""Stored fiscal documents: from the TLV records `A4 46` returns to a `FiscalDocument`.

Pure functions, so the mapping (which tag is the fiscal sign, how VAT is summed, how the kind is
found) is tested and read apart from the link. What is known and what is guessed:

- Tags (1040 number, 1012 date-time, 1077 fiscal sign, 1020 total, ...) are FFD tags
  (`protocols.atol.tlv`); the fiscal sign travels as a 6-byte big-endian integer.
- The `A4 45` reply layout is unknown on hardware; the simulator answers `<document type: 2 LE>
  <TLV bytes: 2 LE>`. The type is used when present; receipts are recognised by tag 1054 anyway.
- Item VAT (tag 1199) carries FFD VAT codes (1 = 20 %, ..., 5 = 0 %, 6 = no VAT). The simulator
  sends the device's tax *index* for rates FFD has no code for (KZ 12 %, 16 %); so a code is read as
  an FFD code when that rate is in the driver's tax table, else as a tax index. A table that puts a
  non-FFD rate at an index whose FFD meaning is also in the table is ambiguous (reported upstream).
- VAT per rate is summed per line, half-up, like the receipt model and the simulator.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from protocols.atol import tlv
from protocols.atol.tax_table import TaxSlot
from protocols.errors import ProtocolError

from kkm_bridge.driver.api import DocumentKind, FiscalDocument
from kkm_bridge.driver.errors import ProtocolFailure
from kkm_bridge.model.money import vat_included

__all__ = [
    "FFD_VAT_LABELS",
    "KIND_BY_DOCUMENT_TYPE",
    "KIND_BY_OPERATION_TAG",
    "RECEIPT_DOCUMENT_TYPE",
    "document_from_tlvs",
    "vat_label",
]

#: FFD operation type (tag 1054) -> kind.
KIND_BY_OPERATION_TAG: dict[int, DocumentKind] = {
    1: DocumentKind.SELL,
    2: DocumentKind.SELL_RETURN,
    3: DocumentKind.BUY,
    4: DocumentKind.BUY_RETURN,
}
#: Document type in the `A4 45` reply (simulator layout: FFD numbers 2/3/5; 101/102 cash in/out).
KIND_BY_DOCUMENT_TYPE: dict[int, DocumentKind] = {
    2: DocumentKind.SHIFT_OPEN,
    5: DocumentKind.SHIFT_CLOSE,
    101: DocumentKind.CASH_IN,
    102: DocumentKind.CASH_OUT,
}
RECEIPT_DOCUMENT_TYPE = 3
#: FFD VAT codes (tag 1199) -> the rate code the receipt model uses.
FFD_VAT_LABELS: dict[int, str] = {1: "20", 2: "10", 3: "20/120", 4: "10/110", 5: "0", 6: "none"}


def vat_label(code: int, tax_table: dict[int, TaxSlot]) -> str | None:
    """The rate code ("12", "none") an item's tag 1199 value stands for (see the module docstring)."""
    return _vat_label(code, tax_table, {slot.label for slot in tax_table.values()})


def _vat_label(code: int, tax_table: dict[int, TaxSlot], labels: set[str]) -> str | None:
    ffd = FFD_VAT_LABELS.get(code)
    if ffd is not None and ffd in labels:
        return ffd
    slot = tax_table.get(code)
    return slot.label if slot is not None else ffd


def _percent_for(label: str, tax_table: dict[int, TaxSlot]) -> Decimal | None:
    for slot in tax_table.values():
        if slot.label == label:
            return slot.percent
    return None


def document_from_tlvs(
    number: int, doc_type: int, records: list[tuple[int, bytes]], tax_table: dict[int, TaxSlot]
) -> FiscalDocument:
    """Build the document from its raw TLV records; ProtocolFailure on a malformed value."""
    values: dict[int, Any] = {}
    vat: dict[str, int] = {}
    labels: set[str] | None = None  # the table's rate codes, made at the first item
    percents: dict[str, Decimal | None] = {}
    try:
        for tag, raw in records:
            value = tlv.decode_value(tag, raw)
            if tag == tlv.ITEM:
                fields = dict(value)
                if labels is None:
                    labels = {slot.label for slot in tax_table.values()}
                label = _vat_label(int(fields.get(tlv.ITEM_VAT_RATE, 0)), tax_table, labels)
                if label is not None:
                    amount = int(fields.get(tlv.ITEM_AMOUNT, 0))
                    if label not in percents:
                        percents[label] = _percent_for(label, tax_table)
                    percent = percents[label]
                    vat[label] = vat.get(label, 0) + (vat_included(amount, percent) if percent is not None else 0)
            else:
                values.setdefault(tag, value)
    except ProtocolError as exc:
        raise ProtocolFailure(f"document {number}: bad TLV: {exc}") from exc
    if doc_type == RECEIPT_DOCUMENT_TYPE or tlv.OPERATION_TYPE in values:
        kind = KIND_BY_OPERATION_TAG.get(values.get(tlv.OPERATION_TYPE, 0), DocumentKind.OTHER)
    else:
        kind = KIND_BY_DOCUMENT_TYPE.get(doc_type, DocumentKind.OTHER)
    sign_raw = values.get(tlv.FISCAL_SIGN, b"")
    fiscal_sign = str(int.from_bytes(sign_raw, "big")) if sign_raw else ""
    stamp = values.get(tlv.DATETIME)
    return FiscalDocument(
        number=int(values.get(tlv.DOCUMENT_NUMBER, number)),
        kind=kind,
        date_time=stamp if isinstance(stamp, datetime) else datetime(2000, 1, 1),
        fiscal_sign=fiscal_sign,
        total=int(values.get(tlv.TOTAL, 0)),
        shift_number=values.get(tlv.SHIFT_NUMBER),
        receipt_number=values.get(tlv.RECEIPT_NUMBER),
        registration_number=values.get(tlv.REGISTRATION_NUMBER),
        fn_number=values.get(tlv.FN_NUMBER),
        vat=vat,
    )
