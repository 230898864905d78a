"""construct field types shared by the command layouts: text in the ATOL code page, BCD dates.

Each adapter also emits source for construct's compiler (`_emitparse`/`_emitbuild`), so compiled
layouts stay compiled end to end instead of calling back into the interpreted adapter. Because compiled
construct code does not check for short reads, `commands` checks payload lengths before parsing.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Final

import construct as c

from ..errors import ProtocolError
from .codepage import decode_text, encode_text

__all__ = [
    "AsciiText",
    "AtolText",
    "BcdDate",
    "BcdDateTime",
    "GreedyAtolText",
    "GreedyUtf8",
    "date_from_bcd",
    "date_to_bcd",
    "datetime_from_bcd",
    "datetime_to_bcd",
    "fixed_text_decode",
    "fixed_text_encode",
    "GreedyAscii",
    "greedy_text_decode",
    "greedy_text_encode",
]

_IMPORT = "from protocols.atol.fields import *"


def fixed_text_encode(value: str, width: int, encoding: str) -> bytes:
    """Text -> exactly `width` bytes, NUL-padded; ProtocolError if it is longer."""
    raw = encode_text(value) if encoding == "atol" else _encode_plain(value, encoding)
    if len(raw) > width:
        raise ProtocolError(f"text longer than {width} bytes: {value!r}")
    return raw + bytes(width - len(raw))


def fixed_text_decode(raw: bytes, encoding: str) -> str:
    """NUL-padded bytes -> text (trailing NULs stripped)."""
    raw = bytes(raw).rstrip(b"\x00")
    return decode_text(raw) if encoding == "atol" else _decode_plain(raw, encoding)


def _encode_plain(value: str, encoding: str) -> bytes:
    try:
        return value.encode(encoding)
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"text not encodable as {encoding}: {value!r}") from None


def _decode_plain(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise ProtocolError(f"bytes are not valid {encoding}: {raw[:16].hex(' ')}") from None


def greedy_text_encode(value: str, encoding: str) -> bytes:
    return encode_text(value) if encoding == "atol" else _encode_plain(value, encoding)


def greedy_text_decode(raw: bytes, encoding: str) -> str:
    return decode_text(raw) if encoding == "atol" else _decode_plain(bytes(raw), encoding)


class _FixedText(c.Adapter):  # type: ignore[misc]
    def __init__(self, width: int, encoding: str) -> None:
        super().__init__(c.Bytes(width))
        self.width = width
        self.encoding = encoding

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return fixed_text_decode(obj, self.encoding)

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        return fixed_text_encode(obj, self.width, self.encoding)

    def _emitparse(self, code: Any) -> str:
        code.append(_IMPORT)
        return f"fixed_text_decode(io.read({self.width}), {self.encoding!r})"

    def _emitbuild(self, code: Any) -> str:
        code.append(_IMPORT)
        return f"(io.write(fixed_text_encode(obj, {self.width}, {self.encoding!r})), obj)[1]"


class _GreedyText(c.Adapter):  # type: ignore[misc]
    def __init__(self, encoding: str) -> None:
        super().__init__(c.GreedyBytes)
        self.encoding = encoding

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return greedy_text_decode(obj, self.encoding)

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        return greedy_text_encode(obj, self.encoding)

    def _emitparse(self, code: Any) -> str:
        code.append(_IMPORT)
        return f"greedy_text_decode(io.read(), {self.encoding!r})"

    def _emitbuild(self, code: Any) -> str:
        code.append(_IMPORT)
        return f"(io.write(greedy_text_encode(obj, {self.encoding!r})), obj)[1]"


def AtolText(width: int) -> _FixedText:  # noqa: N802
    """Fixed-width, NUL-padded text in the ATOL code page (e.g. the 64-byte item name in E6)."""
    return _FixedText(width, "atol")


def AsciiText(width: int) -> _FixedText:  # noqa: N802
    """Fixed-width, NUL-padded ASCII (FN numbers and versions in A4 replies)."""
    return _FixedText(width, "ascii")


GreedyAtolText = _GreedyText("atol")
"""The rest of the payload as ATOL-code-page text (print line 4C, device name in A5)."""
GreedyUtf8 = _GreedyText("utf-8")
"""The rest of the payload as UTF-8 (barcode data in C1)."""
GreedyAscii = _GreedyText("ascii")


# BCD byte -> value (0..99), -1 for a byte with a nibble > 9; and the reverse. Table lookups are the
# fastest way to do this in CPython, and dates sit on the 3F hot path.
_FROM_BCD: Final = tuple((b >> 4) * 10 + (b & 15) if (b >> 4) < 10 and (b & 15) < 10 else -1 for b in range(256))
_TO_BCD: Final = tuple((v // 10) << 4 | v % 10 for v in range(100))


def _check_date(value: Any, kind: type) -> None:
    if not isinstance(value, kind):
        raise ProtocolError(f"expected a {kind.__name__}, got {value!r}")
    if not 2000 <= value.year <= 2099:
        raise ProtocolError(f"year out of range 2000..2099: {value.year}")


def date_to_bcd(value: _dt.date, order: str) -> bytes:
    """A date as BCD bytes in `order` ("dmy" for 64, "ymd" for 3F); years 2000..2099 only."""
    _check_date(value, _dt.date)
    t = _TO_BCD
    if order == "dmy":
        return bytes((t[value.day], t[value.month], t[value.year - 2000]))
    return bytes((t[value.year - 2000], t[value.month], t[value.day]))


def datetime_to_bcd(value: _dt.datetime, order: str) -> bytes:
    """Date then time (hh mm ss) as BCD; date part in `order`."""
    _check_date(value, _dt.datetime)
    t = _TO_BCD
    if order == "dmy":
        first, third = t[value.day], t[value.year - 2000]
    else:
        first, third = t[value.year - 2000], t[value.day]
    return bytes((first, t[value.month], third, t[value.hour], t[value.minute], t[value.second]))


def _ymd(raw: bytes, order: str) -> tuple[int, int, int]:
    f = _FROM_BCD
    a, b, c_ = f[raw[0]], f[raw[1]], f[raw[2]]
    if a < 0 or b < 0 or c_ < 0:
        raise ProtocolError(f"invalid BCD date: {bytes(raw[:3]).hex(' ')}")
    return (2000 + c_, b, a) if order == "dmy" else (2000 + a, b, c_)


def date_from_bcd(raw: bytes, order: str) -> _dt.date:
    try:
        return _dt.date(*_ymd(raw, order))
    except ValueError as exc:
        raise ProtocolError(f"invalid date {bytes(raw).hex(' ')}: {exc}") from None


def datetime_from_bcd(raw: bytes, order: str) -> _dt.datetime:
    year, month, day = _ymd(raw, order)
    f = _FROM_BCD
    hour, minute, second = f[raw[3]], f[raw[4]], f[raw[5]]
    try:
        if hour < 0 or minute < 0 or second < 0:
            raise ValueError("not BCD")
        return _dt.datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ProtocolError(f"invalid date/time {bytes(raw).hex(' ')}: {exc}") from None


class _BcdDate(c.Adapter):  # type: ignore[misc]
    def __init__(self, order: str, with_time: bool) -> None:
        super().__init__(c.Bytes(6 if with_time else 3))
        self.order = order
        self.with_time = with_time

    def _decode(self, obj: bytes, context: Any, path: str) -> Any:
        return datetime_from_bcd(obj, self.order) if self.with_time else date_from_bcd(obj, self.order)

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        return datetime_to_bcd(obj, self.order) if self.with_time else date_to_bcd(obj, self.order)

    def _emitparse(self, code: Any) -> str:
        code.append(_IMPORT)
        if self.with_time:
            return f"datetime_from_bcd(io.read(6), {self.order!r})"
        return f"date_from_bcd(io.read(3), {self.order!r})"

    def _emitbuild(self, code: Any) -> str:
        code.append(_IMPORT)
        fn = "datetime_to_bcd" if self.with_time else "date_to_bcd"
        return f"(io.write({fn}(obj, {self.order!r})), obj)[1]"


def BcdDate(order: str = "dmy") -> _BcdDate:  # noqa: N802
    """3 BCD bytes of a date (2000..2099) in the given field order."""
    return _BcdDate(order, with_time=False)


def BcdDateTime(order: str = "dmy") -> _BcdDate:  # noqa: N802
    """6 BCD bytes: date in the given order, then hh mm ss."""
    return _BcdDate(order, with_time=True)
