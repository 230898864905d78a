"""The ATOL "external code page" as a Python text codec named "atol".

It is CP866 with '$' and '№' swapped: 0x24 is '№' and 0xFC is '$' (reference §3.1; dant's
`toAtolString` does exactly this swap before a CP866 encode). atol4j's table additionally shows 0xF2 as
'€' and 0xFF as '■' where CP866 has 'Є' and a no-break space; CONTRACTS.md fixes the dant reading
(plain CP866 + swap), so that is what is registered here. Every byte decodes to a character, so decoding
never fails; encoding fails (ProtocolError from `encode_text`) on characters the page lacks.
"""

from __future__ import annotations

import codecs

from ..errors import ProtocolError

__all__ = ["CODEC_NAME", "decode_text", "encode_text"]

CODEC_NAME = "atol"


def _build_decoding_table() -> str:
    chars = list(bytes(range(256)).decode("cp866"))
    chars[0x24], chars[0xFC] = chars[0xFC], chars[0x24]
    return "".join(chars)


_DECODING_TABLE = _build_decoding_table()
_ENCODING_TABLE = codecs.charmap_build(_DECODING_TABLE)


class _Codec(codecs.Codec):
    def encode(self, input: str, errors: str = "strict") -> tuple[bytes, int]:
        return codecs.charmap_encode(input, errors, _ENCODING_TABLE)

    def decode(self, input: bytes, errors: str = "strict") -> tuple[str, int]:  # type: ignore[override]
        return codecs.charmap_decode(input, errors, _DECODING_TABLE)


class _IncrementalEncoder(codecs.IncrementalEncoder):
    def encode(self, input: str, final: bool = False) -> bytes:
        return codecs.charmap_encode(input, self.errors, _ENCODING_TABLE)[0]


class _IncrementalDecoder(codecs.IncrementalDecoder):
    def decode(self, input: bytes, final: bool = False) -> str:  # type: ignore[override]
        return codecs.charmap_decode(input, self.errors, _DECODING_TABLE)[0]


class _StreamWriter(_Codec, codecs.StreamWriter):
    pass


class _StreamReader(_Codec, codecs.StreamReader):
    pass


_CODEC_INFO = codecs.CodecInfo(
    name=CODEC_NAME,
    encode=_Codec().encode,
    decode=_Codec().decode,
    incrementalencoder=_IncrementalEncoder,
    incrementaldecoder=_IncrementalDecoder,
    streamreader=_StreamReader,
    streamwriter=_StreamWriter,
)


def _search(name: str) -> codecs.CodecInfo | None:
    return _CODEC_INFO if name == CODEC_NAME else None


codecs.register(_search)


def encode_text(s: str) -> bytes:
    """Encode text for the device; ProtocolError if a character has no byte in the code page."""
    try:
        return codecs.charmap_encode(s, "strict", _ENCODING_TABLE)[0]
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"character not in the ATOL code page: {exc.object[exc.start:exc.end]!r}") from None


def decode_text(b: bytes) -> str:
    """Decode device text. Never fails: every byte has a character."""
    return codecs.charmap_decode(bytes(b), "strict", _DECODING_TABLE)[0]
