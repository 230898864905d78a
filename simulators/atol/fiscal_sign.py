"""The fiscal sign (ФП) of a simulated document: a keyed hash, so tests can verify it.

A real KZ device gets the fiscal sign from the OFD (online) or generates an autonomous one (offline).
The simulator plays both roles with one rule: HMAC-SHA256, keyed by a secret kept in the device state,
over a canonical encoding of the document (every field except the sign itself), reduced to a decimal
number of `SIGN_DIGITS` digits (fiscal signs are printed and put into the QR `i=` as digits).

Canonical encoding: JSON with sorted keys, no whitespace, UTF-8, no ASCII escaping. The document is
first converted to plain JSON types (the same dict the state file stores), so the sign can be
recomputed from the `--dump` output alone, given the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGN_DIGITS = 10


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """The bytes the sign covers: the document without its `fiscal_sign` field, canonically encoded."""
    body = {key: value for key, value in document.items() if key != "fiscal_sign"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def compute_fiscal_sign(key: bytes, document: dict[str, Any]) -> str:
    """The fiscal sign of `document` (a decimal string of `SIGN_DIGITS` digits, no leading zero)."""
    digest = hmac.new(key, canonical_bytes(document), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big") % (9 * 10 ** (SIGN_DIGITS - 1))
    return str(number + 10 ** (SIGN_DIGITS - 1))


def verify_fiscal_sign(key: bytes, document: dict[str, Any]) -> bool:
    """True if the document's `fiscal_sign` matches its content under `key`."""
    expected = compute_fiscal_sign(key, document)
    return hmac.compare_digest(expected, str(document.get("fiscal_sign", "")))
