"""A second compiler for construct layouts: flat `Struct`s of fixed-size fields -> one `struct.Struct`.

Why: construct's own `.compile()` still builds a context `Container` per call and writes field by
field into a BytesIO; for the benchmark's hot path (E6 and the 3F reply) that is most of the cost. Most
ATOL command layouts are a flat run of fixed-size fields, optionally ending in one greedy field, which
maps directly onto a single `struct.Struct` plus a per-field conversion. The layouts are still declared
once, with construct; this module only *reads* those declarations. Anything it does not recognise
makes `flatten` return None, and the caller falls back to construct's compiled parser. The tests check
that every layout gives identical bytes and values through all engines.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import construct as c

from ..errors import ProtocolError
from .bcd import BcdAdapter, decode_bcd, encode_bcd
from .fields import (
    _BcdDate,
    _FixedText,
    _GreedyText,
    date_from_bcd,
    date_to_bcd,
    datetime_from_bcd,
    datetime_to_bcd,
    fixed_text_decode,
    fixed_text_encode,
    greedy_text_decode,
    greedy_text_encode,
)

__all__ = ["FlatLayout", "flatten"]

Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class FlatLayout:
    """names[i] is packed with `packer` after `encoders[i]`; the optional tail takes the rest.

    `ints`: indexes of the multi-byte integers that `packer` packs itself (native struct codes, when the
    layout's integers share one byte order); `build_list` checks that their values are ints, as the
    converters of the other integers do.
    """

    packer: struct.Struct
    names: tuple[str, ...]
    decoders: tuple[Convert | None, ...]
    encoders: tuple[Convert | None, ...]
    tail_name: str | None
    tail_decoder: Convert | None
    tail_encoder: Convert | None
    ints: tuple[int, ...] = ()

    @property
    def fixed_size(self) -> int:
        return self.packer.size

    def __post_init__(self) -> None:
        # Index lists of the fields that need a conversion, so plain fields cost nothing extra.
        object.__setattr__(self, "_dec", tuple((i, f) for i, f in enumerate(self.decoders) if f is not None))
        object.__setattr__(self, "_enc", tuple((i, f) for i, f in enumerate(self.encoders) if f is not None))
        object.__setattr__(self, "_all", self.names + ((self.tail_name,) if self.tail_name is not None else ()))

    @property
    def all_names(self) -> tuple[str, ...]:
        """Field names in wire order, the greedy tail (if any) last."""
        return self._all  # type: ignore[attr-defined,no-any-return]

    def parse_list(self, data: bytes) -> list[Any]:
        """Field values in `all_names` order."""
        values = list(self.packer.unpack_from(data))
        for i, dec in self._dec:  # type: ignore[attr-defined]
            values[i] = dec(values[i])
        if self.tail_name is not None:
            tail = bytes(data[self.packer.size :])
            values.append(tail if self.tail_decoder is None else self.tail_decoder(tail))
        return values

    def build_list(self, values: Any) -> bytes:
        """Bytes from field values in `all_names` order."""
        args = list(values)
        tail = args.pop() if self.tail_name is not None else None
        for i in self.ints:
            value = args[i]
            if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ProtocolError(f"expected an int, got {value!r}")
        for i, enc in self._enc:  # type: ignore[attr-defined]
            args[i] = enc(args[i])
        try:
            raw = self.packer.pack(*args)
        except struct.error as exc:
            raise ProtocolError(f"value out of range: {exc}") from None
        if self.tail_name is None:
            return raw
        return raw + (tail if self.tail_encoder is None else self.tail_encoder(tail))

    def parse(self, data: bytes) -> dict[str, Any]:
        return dict(zip(self._all, self.parse_list(data)))  # type: ignore[attr-defined]

    def build(self, values: dict[str, Any]) -> bytes:
        return self.build_list([values[name] for name in self._all])  # type: ignore[attr-defined]


def _exact_bytes(n: int) -> Convert:
    def check(value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray)) or len(value) != n:
            raise ProtocolError(f"expected {n} bytes, got {value!r}")
        return bytes(value)

    return check


def _bytes_tail(value: Any) -> bytes:
    if type(value) is bytes:  # the usual case: no copy call
        return value
    if not isinstance(value, (bytes, bytearray)):
        raise ProtocolError(f"expected bytes, got {type(value).__name__}")
    return bytes(value)


def _int_from(n: int, order: str) -> tuple[Convert, Convert]:
    def dec(raw: bytes) -> int:
        return int.from_bytes(raw, order)  # type: ignore[arg-type]

    def enc(value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(f"expected an int, got {value!r}")
        try:
            return value.to_bytes(n, order)  # type: ignore[arg-type]
        except OverflowError:
            raise ProtocolError(f"{value} does not fit in {n} bytes") from None

    return dec, enc


def _multibyte_int(sub: Any) -> bool:
    """An unsigned integer field of 2..8 bytes with an explicit byte order (what `_field` supports)."""
    return (
        isinstance(sub, c.FormatField) and struct.calcsize(sub.fmtstr) > 1
        and sub.fmtstr[-1] in "HILQ" and sub.fmtstr[0] in "<>"
    )


def _field(sub: Any, order: str | None = None) -> tuple[str, Convert | None, Convert | None] | None:
    """struct format, decoder, encoder for one fixed-size construct field (None if unsupported).

    `order`: the byte order of the whole struct ("<" or ">"); an integer field of that order is packed by
    struct itself (no conversion call per value), one of the other order as bytes plus a conversion.
    """
    if isinstance(sub, c.FormatField):
        size = struct.calcsize(sub.fmtstr)
        if size == 1:
            return ("b" if sub.fmtstr[-1] == "b" else "B"), None, None
        if sub.fmtstr[-1] in "HILQ" and sub.fmtstr[0] in "<>":
            if sub.fmtstr[0] == order:
                return sub.fmtstr[-1], None, None  # (the same standard size under "<"/">")
            dec, enc = _int_from(size, "little" if sub.fmtstr[0] == "<" else "big")
            return f"{size}s", dec, enc
        return None
    if sub is c.Flag:
        return "?", None, None
    if isinstance(sub, BcdAdapter):
        width = sub.width
        return f"{width}s", decode_bcd, partial(encode_bcd, width=width)
    if isinstance(sub, _FixedText):
        width, encoding = sub.width, sub.encoding
        return (
            f"{width}s",
            partial(fixed_text_decode, encoding=encoding),
            partial(fixed_text_encode, width=width, encoding=encoding),
        )
    if isinstance(sub, _BcdDate):
        order = sub.order
        if sub.with_time:
            return "6s", partial(datetime_from_bcd, order=order), partial(datetime_to_bcd, order=order)
        return "3s", partial(date_from_bcd, order=order), partial(date_to_bcd, order=order)
    if isinstance(sub, c.Bytes) and isinstance(sub.length, int):
        return f"{sub.length}s", None, _exact_bytes(sub.length)  # (struct's "Ns" gives bytes already)
    return None


def flatten(layout: c.Construct | None) -> FlatLayout | None:
    """A FlatLayout equivalent to `layout`, or None when it is not a flat Struct we understand."""
    if not isinstance(layout, c.Struct):
        return None
    subcons = list(layout.subcons)
    # The struct takes the byte order of the layout's integers when they all have the same one; an
    # integer of the other order (a mixed layout) is packed as bytes with a conversion.
    orders = {
        item.subcon.fmtstr[0] for item in subcons
        if isinstance(item, c.Renamed) and _multibyte_int(item.subcon)
    }
    order = orders.pop() if len(orders) == 1 else ">"
    fmt = [order]
    names: list[str] = []
    decoders: list[Convert | None] = []
    encoders: list[Convert | None] = []
    ints: list[int] = []
    tail: tuple[str, Convert | None, Convert | None] | None = None
    for index, item in enumerate(subcons):
        name = getattr(item, "name", None)
        if isinstance(item, c.Renamed):
            item = item.subcon
        if name is None:
            if isinstance(item, c.Padded) and isinstance(item.length, int) and item.subcon is c.Pass:
                fmt.append(f"{item.length}x")
                continue
            return None
        if index == len(subcons) - 1:
            if item is c.GreedyBytes:
                tail = (name, None, _bytes_tail)
                continue
            if isinstance(item, _GreedyText):
                enc = item.encoding
                tail = (name, lambda raw, e=enc: greedy_text_decode(raw, e), lambda v, e=enc: greedy_text_encode(v, e))
                continue
        spec = _field(item, order)
        if spec is None:
            return None
        if _multibyte_int(item) and spec[1] is None:
            ints.append(len(names))
        fmt.append(spec[0])
        names.append(name)
        decoders.append(spec[1])
        encoders.append(spec[2])
    return FlatLayout(
        packer=struct.Struct("".join(fmt)),
        names=tuple(names),
        decoders=tuple(decoders),
        encoders=tuple(encoders),
        tail_name=tail[0] if tail else None,
        tail_decoder=tail[1] if tail else None,
        tail_encoder=tail[2] if tail else None,
        ints=tuple(ints),
    )
