"""Canonical JSON for request bodies, and the body hash used for idempotency.

Why: "same idempotency key + same body -> replay, different body -> 409" needs a notion of "same body" that
does not depend on how a client happened to serialise it. Two bodies are the same when they are equal as JSON
values after these rules:

* object keys are sorted; whitespace is dropped; text is UTF-8 (no ``\\u`` escapes for non-ASCII);
* every number (int, float, ``Decimal``; not ``bool``) becomes a *string* holding its normalised plain decimal
  value: ``1``, ``1.0``, ``1e0``, ``Decimal("1.00")`` all become ``"1"``; ``0.1`` (a float) becomes ``"0.1"``
  (shortest repr, never the binary expansion); ``-0`` becomes ``"0"``. So the stored request never contains a
  float, and money keeps its exact value;
* strings are kept verbatim (``"100.00"`` stays ``"100.00"``; we cannot know which strings are amounts, and
  normalising e.g. ``"007"`` would be wrong). A caller that wants ``"100.00"`` and ``100`` to count as the
  same amount should pass the validated model (amounts as ``Decimal``) rather than the raw body;
* tuples are lists; NaN/Infinity, non-string keys and other types are rejected.

Transport-level fields (the ``idempotency_key`` itself, ``async``...) should be removed by the caller before
hashing: they are not part of "what to print".
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["canonicalize", "canonical_json", "canonical_text", "body_hash", "decimal_text", "to_json_text", "from_json_text"]

# Bounds the size of a normalised number's text (every finite float fits: |exponent| <= 324), so a body with
# Decimal("1e999999") cannot turn into a megabyte string.
_MAX_EXPONENT = 400


def decimal_text(value: int | float | Decimal) -> str:
    """Normalised plain-notation text of a number: no exponent, no trailing zeros, no negative zero."""
    if isinstance(value, bool):
        raise TypeError("bool is not a number here")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and Infinity are not valid JSON numbers")
        dec = Decimal(repr(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("NaN and Infinity are not valid JSON numbers")
        dec = value
    else:  # pragma: no cover - guarded by callers
        raise TypeError(f"not a number: {type(value).__name__}")
    if dec.is_zero():
        return "0"
    if abs(dec.adjusted()) > _MAX_EXPONENT:
        raise ValueError(f"number out of range for a request body: {dec!r}")
    # Normalise by hand: Decimal.normalize() rounds to the context precision (28 digits), which would make
    # two different long numbers look equal.
    sign, digit_tuple, exponent = dec.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).lstrip("0") or "0"
    while digits.endswith("0") and len(digits) > 1:
        digits = digits[:-1]
        exponent += 1
    if exponent >= 0:
        text = digits + "0" * exponent
    else:
        point = len(digits) + exponent
        text = digits[:point] + "." + digits[point:] if point > 0 else "0." + "0" * -point + digits
    return ("-" if sign else "") + text


def canonicalize(value: Any, _path: str = "$") -> Any:
    """Return the canonical JSON value (dicts, lists, str, bool, None; numbers as normalised strings).

    Object keys come out sorted, so the value is equal to, and iterates like, what parsing its canonical
    text gives back (the journal hands it out as ``Job.request`` without reading it back).
    """
    try:
        return _canonical_fast(value)
    except (TypeError, ValueError):
        # Walk again, tracking the path, only to say where the problem is: building a path string for
        # every field of every valid body is most of the cost of the walk.
        return _canonicalize_traced(value, _path)


def _canonical_fast(value: Any) -> Any:
    kind = type(value)
    if kind is str or value is None or kind is bool:  # exact-type tests first: no ABC instance checks
        return value
    if kind is dict:
        return {key: _canonical_fast(value[key]) for key in _sorted_str_keys(value)}
    if kind is list:
        return [_canonical_fast(item) for item in value]
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, Decimal)):
        return decimal_text(value)
    if isinstance(value, Mapping):
        return {key: _canonical_fast(value[key]) for key in _sorted_str_keys(value)}
    if isinstance(value, (list, tuple)):
        return [_canonical_fast(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _sorted_str_keys(value: Mapping[Any, Any]) -> list[str]:
    keys = sorted(value)  # a non-string key either fails to sort or fails the check below
    for key in keys:
        if type(key) is not str and not isinstance(key, str):
            raise TypeError("object keys must be strings")
    return keys


def _canonicalize_traced(value: Any, _path: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, Decimal)):
        return decimal_text(value)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{_path}: object keys must be strings, got {type(key).__name__}")
        return {key: _canonicalize_traced(value[key], f"{_path}.{key}") for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_canonicalize_traced(item, f"{_path}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{_path}: {type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> str:
    """The canonical text of a request body (see the module docstring)."""
    return canonical_text(canonicalize(value))


def canonical_text(canonical: Any) -> str:
    """The text of a value ``canonicalize`` already returned (no second walk over it)."""
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def body_hash(value: Any) -> str:
    """sha256 (hex) of the canonical JSON of a request body."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _result_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("NaN and Infinity are not valid JSON numbers")
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in the journal")


def _has_float(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is int or value is None:  # the usual leaves, without ABC instance checks
        return False
    if kind is dict:
        return any(_has_float(item) for item in value.values())
    if isinstance(value, float):
        return True
    if isinstance(value, Mapping):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_float(item) for item in value)
    return False


def _reject_floats(value: Any, path: str = "$") -> None:
    # The path strings are only built once a float was found (they cost more than the check itself).
    if not _has_float(value):
        return
    if isinstance(value, float):
        raise TypeError(f"{path}: floats are not stored in the journal; use Decimal or str for money")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _reject_floats(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _reject_floats(item, f"{path}[{i}]")


def to_json_text(value: Any) -> str:
    """Serialise a result or facts object: ints stay ints, ``Decimal`` becomes its string (``"100.50"`` keeps
    its scale, as printed on the receipt), datetimes become ISO text, floats are refused (money must never
    pass through a float)."""
    _reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_result_default)


def from_json_text(text: str | None) -> Any:
    """Parse JSON stored by the journal; any non-integer number would come back as ``Decimal``, never float."""
    if text is None:
        return None
    return json.loads(text, parse_float=Decimal)
