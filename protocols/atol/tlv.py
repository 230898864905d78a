"""FFD-style TLV records, as returned one at a time by `A4 46` when reading a stored document.

Wire format (reference §3.3, unact): `<tag: 2 LE> <length: 2 LE> <value>`. An STLV (structure) is a
TLV whose value is itself a sequence of TLVs (tag 1059, an item, contains 1030 name, 1079 price, ...).

Value types follow the FFD conventions: little-endian unsigned integers; VLN (variable-length LE
unsigned, used for money in minor units); FVLN (first byte = number of decimal places, then a VLN; used
for quantities, carried here as int thousandths); strings in CP866; unixtime (seconds, local time
written as if it were UTC, so it round-trips naive datetimes).

Tag numbers that the team's references confirm are marked `confirmed=True` (fiscal-rules reference
§5 names 1040 1012 1077 1020 1038 1042 1054 1037 1041 1031 1081 1059 1199). 1030, 1079, 1023 and 1043
come from general FFD knowledge and are [unconfirmed — verify on hardware].
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from ..errors import ProtocolError

__all__ = [
    "TAGS",
    "TagInfo",
    "Tlv",
    "TlvType",
    "decode_tlv",
    "decode_tlvs",
    "decode_value",
    "encode_tlv",
    "encode_value",
    "parse_document",
    "build_document",
]


class TlvType(Enum):
    BYTE = "byte"  # 1-byte unsigned
    UINT32 = "uint32"  # 4-byte LE unsigned
    VLN = "vln"  # minimal-length LE unsigned (money, minor units)
    FVLN = "fvln"  # decimal-places byte + LE unsigned (quantity, int thousandths)
    STRING = "string"  # CP866
    UNIXTIME = "unixtime"  # 4-byte LE seconds
    BYTES = "bytes"  # raw
    STLV = "stlv"  # nested TLVs


@dataclass(frozen=True, slots=True)
class TagInfo:
    tag: int
    name: str
    type: TlvType
    confirmed: bool


DOCUMENT_NUMBER: Final = 1040
DATETIME: Final = 1012
FISCAL_SIGN: Final = 1077
TOTAL: Final = 1020
SHIFT_NUMBER: Final = 1038
RECEIPT_NUMBER: Final = 1042
OPERATION_TYPE: Final = 1054
REGISTRATION_NUMBER: Final = 1037
FN_NUMBER: Final = 1041
ITEM: Final = 1059
ITEM_NAME: Final = 1030
ITEM_PRICE: Final = 1079
ITEM_QUANTITY: Final = 1023
ITEM_AMOUNT: Final = 1043
ITEM_VAT_RATE: Final = 1199
CASH: Final = 1031
ELECTRONIC: Final = 1081

TAGS: Final[dict[int, TagInfo]] = {
    t.tag: t
    for t in (
        TagInfo(DOCUMENT_NUMBER, "document_number", TlvType.UINT32, True),
        TagInfo(DATETIME, "datetime", TlvType.UNIXTIME, True),
        TagInfo(FISCAL_SIGN, "fiscal_sign", TlvType.BYTES, True),  # 6 bytes (ФПД)
        TagInfo(TOTAL, "total", TlvType.VLN, True),
        TagInfo(SHIFT_NUMBER, "shift_number", TlvType.UINT32, True),
        TagInfo(RECEIPT_NUMBER, "receipt_number", TlvType.UINT32, True),
        TagInfo(OPERATION_TYPE, "operation_type", TlvType.BYTE, True),  # 1 sell, 2 sell return, 3 buy, 4 buy return
        TagInfo(REGISTRATION_NUMBER, "registration_number", TlvType.STRING, True),
        TagInfo(FN_NUMBER, "fn_number", TlvType.STRING, True),
        TagInfo(ITEM, "item", TlvType.STLV, True),
        TagInfo(ITEM_NAME, "item_name", TlvType.STRING, False),
        TagInfo(ITEM_PRICE, "item_price", TlvType.VLN, False),
        TagInfo(ITEM_QUANTITY, "item_quantity", TlvType.FVLN, False),
        TagInfo(ITEM_AMOUNT, "item_amount", TlvType.VLN, False),
        TagInfo(ITEM_VAT_RATE, "item_vat_rate", TlvType.BYTE, True),  # 1 = 20 %, ... 6 = no VAT (FFD codes)
        TagInfo(CASH, "cash", TlvType.VLN, True),
        TagInfo(ELECTRONIC, "electronic", TlvType.VLN, True),
    )
}

_EPOCH: Final = _dt.datetime(1970, 1, 1)
# TlvType members as module globals: `TlvType.X` goes through the enum's attribute descriptor each time.
_BYTE, _UINT32, _VLN, _FVLN = TlvType.BYTE, TlvType.UINT32, TlvType.VLN, TlvType.FVLN
_STRING, _UNIXTIME, _BYTES, _STLV = TlvType.STRING, TlvType.UNIXTIME, TlvType.BYTES, TlvType.STLV


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes


def encode_tlv(tag: int, value: bytes) -> bytes:
    """One record: `<tag: 2 LE> <len: 2 LE> <value>`."""
    if not 0 <= tag <= 0xFFFF:
        raise ProtocolError(f"TLV tag out of range: {tag}")
    if len(value) > 0xFFFF:
        raise ProtocolError(f"TLV value too long: {len(value)}")
    return tag.to_bytes(2, "little") + len(value).to_bytes(2, "little") + bytes(value)


def decode_tlv(data: bytes) -> tuple[Tlv, int]:
    """The first record of `data` and the number of bytes it used."""
    if len(data) < 4:
        raise ProtocolError(f"TLV header truncated: {bytes(data).hex(' ')}")
    tag = int.from_bytes(data[0:2], "little")
    length = int.from_bytes(data[2:4], "little")
    if len(data) < 4 + length:
        raise ProtocolError(f"TLV {tag}: length {length} but {len(data) - 4} bytes")
    return Tlv(tag, bytes(data[4 : 4 + length])), 4 + length


def decode_tlvs(data: bytes) -> list[Tlv]:
    """All records in `data` (which must be exactly a sequence of records)."""
    return [Tlv(tag, value) for tag, value in _records(data)]


def _records(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, value) of each record in `data`: what `decode_tlv` finds at each position, with its
    errors, without copying the rest of `data` for every record."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < 4:
            decode_tlv(data[pos:])  # raises: header truncated
        tag = data[pos] | data[pos + 1] << 8
        length = data[pos + 2] | data[pos + 3] << 8
        stop = pos + 4 + length
        if stop > end:
            decode_tlv(data[pos:])  # raises: value truncated
        out.append((tag, bytes(data[pos + 4 : stop])))
        pos = stop
    return out


def _uint(value: int, size: int | None) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"expected a non-negative int, got {value!r}")
    if size is None:
        size = max(1, (value.bit_length() + 7) // 8)
    try:
        return value.to_bytes(size, "little")
    except OverflowError:
        raise ProtocolError(f"{value} does not fit in {size} bytes") from None


def encode_value(tag: int, value: Any) -> bytes:
    """A Python value -> the value bytes for `tag` (per its TlvType; unknown tags take raw bytes)."""
    info = TAGS.get(tag)
    kind = info.type if info else _BYTES
    if kind is _BYTE:
        return _uint(value, 1)
    if kind is _UINT32:
        return _uint(value, 4)
    if kind is _VLN:
        return _uint(value, None)
    if kind is _FVLN:
        return bytes((3,)) + _uint(value, None)
    if kind is _STRING:
        try:
            return str(value).encode("cp866")
        except UnicodeEncodeError:
            raise ProtocolError(f"text not encodable as CP866: {value!r}") from None
    if kind is _UNIXTIME:
        if not isinstance(value, _dt.datetime):
            raise ProtocolError(f"expected a datetime, got {value!r}")
        seconds = (value.replace(tzinfo=None) - _EPOCH) // _dt.timedelta(seconds=1)
        return _uint(seconds, 4)
    if kind is _STLV:
        return build_document(value)
    return bytes(value)


def decode_value(tag: int, raw: bytes) -> Any:
    """Value bytes -> Python value for `tag` (inverse of `encode_value`)."""
    info = TAGS.get(tag)
    kind = info.type if info else _BYTES
    # Identity tests against module aliases: no Enum hashing, no Enum attribute lookups (these run
    # for every TLV of every document read back).
    if kind is _BYTE or kind is _UINT32 or kind is _VLN:
        expected = 1 if kind is _BYTE else 4 if kind is _UINT32 else None
        if (expected is not None and len(raw) != expected) or not raw or len(raw) > 8:
            raise ProtocolError(f"tag {tag}: bad integer length {len(raw)}")
        return int.from_bytes(raw, "little")
    if kind is _FVLN:
        if len(raw) < 2:
            raise ProtocolError(f"tag {tag}: FVLN too short")
        places, number = raw[0], int.from_bytes(raw[1:], "little")
        if places <= 3:
            return number * 10 ** (3 - places)
        scale = 10 ** (places - 3)
        if number % scale:
            raise ProtocolError(f"tag {tag}: quantity finer than thousandths")
        return number // scale
    if kind is _STRING:
        return bytes(raw).decode("cp866")
    if kind is _UNIXTIME:
        if len(raw) != 4:
            raise ProtocolError(f"tag {tag}: unixtime must be 4 bytes")
        return _EPOCH + _dt.timedelta(seconds=int.from_bytes(raw, "little"))
    if kind is _STLV:
        return parse_document(raw)
    return bytes(raw)


def build_document(fields: list[tuple[int, Any]]) -> bytes:
    """[(tag, python value), ...] -> concatenated TLV records (STLV values are nested lists)."""
    return b"".join(encode_tlv(tag, encode_value(tag, value)) for tag, value in fields)


def parse_document(data: bytes) -> list[tuple[int, Any]]:
    """Concatenated TLV records -> [(tag, python value), ...]."""
    return [(tag, decode_value(tag, value)) for tag, value in _records(data)]
