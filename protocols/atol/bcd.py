"""Packed BCD, big-endian, as ATOL uses for money, quantities, passwords and serial numbers.

123 in 5 bytes is `00 00 00 01 23` (reference §3.1, atol4j and dant agree). The conversions go through
the hex text of the bytes: a BCD byte's hex digits *are* its decimal digits, so `int(data.hex())` decodes
and a nibble > 9 shows up as a hex letter that `int(..., 10)` rejects. This is also the fastest way in
CPython, which matters for the codec benchmark.
"""

from __future__ import annotations

from typing import Any

import construct as c

from ..errors import ProtocolError

__all__ = ["Bcd", "BcdAdapter", "decode_bcd", "encode_bcd", "max_bcd"]


def max_bcd(width: int) -> int:
    """The largest value that fits in `width` BCD bytes."""
    return 10 ** (2 * width) - 1


_LIMITS = tuple(10 ** (2 * w) for w in range(33))


def encode_bcd(value: int, width: int) -> bytes:
    """Encode a non-negative int as `width` bytes of big-endian packed BCD."""
    if type(value) is not int:  # bool and float are refused too
        if isinstance(value, int) and not isinstance(value, bool):
            value = int(value)  # IntEnum and friends
        else:
            raise ProtocolError(f"BCD value must be an int, got {type(value).__name__}")
    if not 0 <= value < (_LIMITS[width] if width < 33 else 10 ** (2 * width)):
        raise ProtocolError(f"{value} does not fit in {width} BCD bytes")
    return bytes.fromhex("%0*d" % (2 * width, value))


def decode_bcd(data: bytes) -> int:
    """Decode big-endian packed BCD; ProtocolError on a nibble > 9. Empty input decodes to 0."""
    if not data:
        return 0
    text = data.hex()
    if not text.isdigit():
        raise ProtocolError(f"not BCD: {data.hex(' ')}")
    return int(text)


class BcdAdapter(c.Adapter):  # type: ignore[misc]
    """construct adapter for a fixed-width BCD number (with compiled parse/build support)."""

    def __init__(self, width: int) -> None:
        super().__init__(c.Bytes(width))
        self.width = width

    def _decode(self, obj: bytes, context: Any, path: str) -> int:
        return decode_bcd(obj)

    def _encode(self, obj: int, context: Any, path: str) -> bytes:
        return encode_bcd(obj, self.width)

    # construct's compiler inlines these into the generated parser/builder source.
    def _emitparse(self, code: Any) -> str:
        code.append("from protocols.atol.bcd import decode_bcd, encode_bcd")
        return f"decode_bcd({self.subcon._compileparse(code)})"

    def _emitbuild(self, code: Any) -> str:
        code.append("from protocols.atol.bcd import decode_bcd, encode_bcd")
        return f"(io.write(encode_bcd(obj, {self.width})), obj)[1]"


def Bcd(width: int) -> BcdAdapter:  # noqa: N802 - construct-style factory name
    """`Bcd(width)`: a construct field holding a `width`-byte BCD number as an int."""
    return BcdAdapter(width)
