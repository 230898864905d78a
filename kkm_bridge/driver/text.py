"""What text an ATOL device can print, as data and pure functions.

The device prints item names (and text lines) in the ATOL external code page
(`protocols.atol.codepage`: CP866 with '$' and '№' swapped). That page has Cyrillic for Russian but none
of the nine Kazakh letters (ә ғ қ ң ө ұ ү һ і and their capitals), nor typographic quotes and dashes.
A name with such a character cannot be registered; the device's name field also holds at most
`NAME_BYTES` bytes (one byte per character in this page).

Policy `unsupported_text` (per device, `[[devices]] unsupported_text` in the config):

- ``"reject"`` (default): a receipt whose item names the device cannot print is refused before anything
  is journalled or printed (code ``unsupported_characters``). A fiscal document's item names are not
  altered behind the client's back.
- ``"transliterate"``: the operator opts in to printing Kazakh letters as the nearest Russian ones
  (`KAZAKH_TO_RUSSIAN`) and typographic punctuation as ASCII (`PUNCTUATION`). Characters with no
  replacement (emoji, Chinese...) are still refused.

Decision on ``і`` (U+0456) / ``І`` (U+0406): it becomes Cyrillic ``и`` / ``И``, not Latin ``i``. Latin
``i`` only looks alike; ``и`` is the sound and is what Kazakh->Russian spelling uses (``Іле`` -> ``Иле``),
and it keeps a name in one script (a mixed Cyrillic/Latin name defeats search in the tax authority's
and the OFD's systems). ``ү`` and ``ұ`` both become ``у``, ``ө`` becomes ``о``, ``һ`` becomes ``х``.

Nothing here raises: `text_problems` reports, `prepare_text` converts what it can and leaves the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Final, Literal, cast

from protocols.atol.codepage import decode_text, encode_text
from protocols.errors import ProtocolError

from kkm_bridge.model.errors import Problem, join_path
from kkm_bridge.model.receipt import Receipt

__all__ = [
    "DEFAULT_POLICY",
    "KAZAKH_TO_RUSSIAN",
    "NAME_BYTES",
    "POLICIES",
    "PRINTABLE",
    "PUNCTUATION",
    "REPLACEMENTS",
    "UnsupportedText",
    "can_print",
    "check_policy",
    "name_problems",
    "prepare_text",
    "printable_line",
    "text_problems",
    "unsupported_characters",
]

UnsupportedText = Literal["reject", "transliterate"]
POLICIES: Final[tuple[UnsupportedText, ...]] = ("reject", "transliterate")
DEFAULT_POLICY: Final[UnsupportedText] = "reject"

#: Bytes of the item-name field of the E6 (register item) command.
NAME_BYTES: Final = 64

#: Kazakh letters missing from the code page -> the Russian letter printed instead (both cases).
KAZAKH_TO_RUSSIAN: Final[Mapping[str, str]] = {
    "ә": "а", "Ә": "А",
    "ғ": "г", "Ғ": "Г",
    "қ": "к", "Қ": "К",
    "ң": "н", "Ң": "Н",
    "ө": "о", "Ө": "О",
    "ұ": "у", "Ұ": "У",
    "ү": "у", "Ү": "У",
    "һ": "х", "Һ": "Х",
    "і": "и", "І": "И",
}

#: Punctuation that POS systems copy from product catalogues, missing from the page -> ASCII.
PUNCTUATION: Final[Mapping[str, str]] = {
    "\u00ab": '"', "\u00bb": '"', "\u201c": '"', "\u201d": '"', "\u201e": '"',  # « » “ ” „
    "\u2018": "'", "\u2019": "'", "\u201a": "'",  # ‘ ’ ‚
    "\u2010": "-", "\u2011": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",  # hyphens, dashes, minus
    "\u2026": "...",  # …
    "\u202f": " ", "\u2007": " ", "\u2009": " ",  # narrow no-break, figure and thin spaces
}

#: Everything `transliterate` replaces.
REPLACEMENTS: Final[Mapping[str, str]] = {**KAZAKH_TO_RUSSIAN, **PUNCTUATION}


def _encodes(char: str) -> bool:
    try:
        encode_text(char)
    except ProtocolError:
        return False
    return True


#: Every character the device can print (each of the 256 bytes decodes to one; kept if it encodes back).
PRINTABLE: Final[frozenset[str]] = frozenset(c for c in decode_text(bytes(range(256))) if _encodes(c))


def can_print(char: str) -> bool:
    return char in PRINTABLE


def check_policy(value: object) -> UnsupportedText:
    """`value` as a policy; ValueError naming the allowed values otherwise."""
    if value not in POLICIES:
        raise ValueError(f"unsupported_text must be one of {', '.join(map(repr, POLICIES))}, not {value!r}")
    return cast(UnsupportedText, value)


def prepare_text(text: str, policy: UnsupportedText = DEFAULT_POLICY) -> str:
    """What the device is sent for `text`: unchanged under ``reject``; under ``transliterate`` every
    unprintable character with a replacement replaced. Characters without one are left as they are
    (`text_problems` reports them)."""
    if policy == "reject" or all(c in PRINTABLE for c in text):
        return text
    return "".join(c if c in PRINTABLE else REPLACEMENTS.get(c, c) for c in text)


def printable_line(text: str, policy: UnsupportedText = DEFAULT_POLICY) -> str:
    """A non-fiscal text line (`print_text`): prepared under `policy`, then '?' for whatever is still
    unprintable. Text lines are never refused: they are not part of a fiscal document."""
    return "".join(c if c in PRINTABLE else "?" for c in prepare_text(text, policy))


def unsupported_characters(text: str) -> list[str]:
    """The distinct characters of `text` the device cannot print, in order of first appearance."""
    return list(dict.fromkeys(c for c in text if c not in PRINTABLE))


def _show(chars: Iterable[str]) -> str:
    return ", ".join(f"'{c}' (U+{ord(c):04X})" for c in chars)


@lru_cache(maxsize=1024)
def _unsupported_message(chars: tuple[str, ...], policy: UnsupportedText, what: str) -> str:
    fixable = [c for c in chars if c in REPLACEMENTS]
    hopeless = [c for c in chars if c not in REPLACEMENTS]
    message = f"{what} has characters the fiscal device cannot print: {_show(chars)}"
    if policy == "transliterate":
        return message + "; they have no transliteration (unsupported_text = \"transliterate\" is on): remove them"
    if fixable and not hopeless:
        pairs = ", ".join(f"{c}->{REPLACEMENTS[c]}" for c in fixable)
        return message + (f"; replace them, or set unsupported_text = \"transliterate\" for this device to print "
                          f"them as {pairs}")
    if fixable:
        return message + ("; unsupported_text = \"transliterate\" would print "
                          f"{', '.join(f'{c}->{REPLACEMENTS[c]}' for c in fixable)}, but {_show(hopeless)} "
                          "have no replacement: remove them")
    return message + "; remove them"


def name_problems(name: str, path: str, policy: UnsupportedText = DEFAULT_POLICY, *,
                  name_bytes: int = NAME_BYTES, what: str = "item name") -> list[Problem]:
    """Problems printing one item name at `path`: unprintable characters (``unsupported_characters``),
    then, once printable, a name longer than the device's field (``name_too_long_for_device``; never
    truncated silently)."""
    prepared = prepare_text(name, policy)
    bad = unsupported_characters(prepared)
    if bad:
        return [Problem("unsupported_characters", path, _unsupported_message(tuple(bad), policy, what))]
    size = len(encode_text(prepared))
    if size > name_bytes:
        return [Problem(
            "name_too_long_for_device", path,
            f"{what} is {size} characters long as printed; the fiscal device holds at most {name_bytes}: "
            "shorten it",
        )]
    return []


def text_problems(receipt: Receipt, policy: UnsupportedText = DEFAULT_POLICY, *,
                  name_bytes: int = NAME_BYTES) -> list[Problem]:
    """Every item name of `receipt` the device cannot print as it stands (under `policy`), with the
    canonical path (``/items/0/name``)."""
    problems: list[Problem] = []
    for index, item in enumerate(receipt.items):
        problems += name_problems(item.name, join_path("/items", index, "name"), policy, name_bytes=name_bytes)
    return problems
