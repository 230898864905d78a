"""TLV records for stored documents (A4 45 / A4 46)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.atol import tlv
from protocols.errors import ProtocolError


def test_document_round_trip() -> None:
    doc = [
        (tlv.DOCUMENT_NUMBER, 42),
        (tlv.DATETIME, dt.datetime(2026, 11, 21, 4, 30)),
        (tlv.SHIFT_NUMBER, 7),
        (tlv.RECEIPT_NUMBER, 3),
        (tlv.OPERATION_TYPE, 1),
        (tlv.REGISTRATION_NUMBER, "0000000001012345"),
        (tlv.FN_NUMBER, "9999078900001234"),
        (
            tlv.ITEM,
            [
                (tlv.ITEM_NAME, "Бананы"),
                (tlv.ITEM_PRICE, 7315),
                (tlv.ITEM_QUANTITY, 1500),
                (tlv.ITEM_AMOUNT, 10973),
                (tlv.ITEM_VAT_RATE, 1),
            ],
        ),
        (tlv.CASH, 0),
        (tlv.ELECTRONIC, 10973),
        (tlv.TOTAL, 10973),
        (tlv.FISCAL_SIGN, b"\x00\x01\x02\x03\x04\x05"),
    ]
    raw = tlv.build_document(doc)
    assert tlv.parse_document(raw) == doc
    assert raw[:8] == bytes.fromhex("1004 0400 2a000000")


@settings(max_examples=200)
@given(st.integers(0, 0xFFFF), st.binary(max_size=300))
def test_record_round_trip(tag: int, value: bytes) -> None:
    record = tlv.encode_tlv(tag, value)
    assert tlv.decode_tlv(record + b"tail") == (tlv.Tlv(tag, value), 4 + len(value))


@settings(max_examples=300)
@given(st.binary(max_size=60))
def test_parse_garbage_raises_only_protocol_error(data: bytes) -> None:
    try:
        tlv.parse_document(data)
    except ProtocolError:
        pass


def test_fvln_scales() -> None:
    assert tlv.decode_value(tlv.ITEM_QUANTITY, bytes((0, 2))) == 2000
    assert tlv.decode_value(tlv.ITEM_QUANTITY, bytes((4, 10))) == 1
    with pytest.raises(ProtocolError):
        tlv.decode_value(tlv.ITEM_QUANTITY, bytes((4, 11)))
    with pytest.raises(ProtocolError):
        tlv.decode_tlv(b"\x10\x04\x04\x00\x01")
    with pytest.raises(ProtocolError):
        tlv.encode_value(tlv.TOTAL, -1)
