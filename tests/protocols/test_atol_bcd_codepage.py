"""Packed BCD and the "atol" text codec."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.atol.bcd import Bcd, decode_bcd, encode_bcd, max_bcd
from protocols.atol.codepage import decode_text, encode_text
from protocols.errors import ProtocolError


@settings(max_examples=300)
@given(st.integers(1, 8).flatmap(lambda w: st.tuples(st.just(w), st.integers(0, max_bcd(w)))))
def test_bcd_round_trip(case: tuple[int, int]) -> None:
    width, value = case
    raw = encode_bcd(value, width)
    assert len(raw) == width
    assert decode_bcd(raw) == value
    assert Bcd(width).parse(raw) == value
    assert Bcd(width).build(value) == raw


def test_bcd_examples_and_errors() -> None:
    assert encode_bcd(123, 5) == bytes.fromhex("0000000123")
    assert decode_bcd(bytes.fromhex("0000000123")) == 123
    with pytest.raises(ProtocolError):
        encode_bcd(100, 1)
    with pytest.raises(ProtocolError):
        encode_bcd(-1, 2)
    with pytest.raises(ProtocolError):
        decode_bcd(b"\x1a")
    with pytest.raises(ProtocolError):
        decode_bcd(b"\xa0")


def test_codepage_swap_and_registration() -> None:
    assert encode_text("№") == b"\x24"
    assert encode_text("$") == b"\xfc"
    assert encode_text("АЯая") == bytes((0x80, 0x9F, 0xA0, 0xEF))
    assert decode_text(b"\xf0\xf1") == "Ёё"
    assert "Бананы".encode("atol").decode("atol") == "Бананы"
    assert codecs.lookup("ATOL").name == "atol"
    with pytest.raises(ProtocolError):
        encode_text("€") if "€" not in decode_text(bytes(range(256))) else encode_text("\u4e00")


@settings(max_examples=100)
@given(st.binary(max_size=256))
def test_codepage_bytes_round_trip(raw: bytes) -> None:
    assert encode_text(decode_text(raw)) == raw
