"""The one error envelope, and how every failure below the HTTP layer becomes an HTTP answer.

Envelope (``schemas.ErrorResponse``)::

    {"success": false, "error": {"code": "vat_rate_not_allowed", "message": "Incorrect VAT rate 12: ...",
                                  "details": [{"path": "/items/0/vat_rate", "code": ..., "message": ...}]}}

Mapping, in one place so every route answers the same way:

====================================== ====== =========================================================
cause                                  status error.code
====================================== ====== =========================================================
body is not JSON                       400    malformed_json
body has the wrong shape/JSON types    400    invalid_field / unknown_field / missing_field
model ``Problem`` s (all of them)      400    the first problem's code (e.g. vat_rate_not_allowed)
device limits (``receipt_problems``)   400    unsupported_characters / name_too_long_for_device /
                                              vat_rate_not_on_device / payment_type_not_on_device
missing/bad credentials or token       401    unauthorized / token_expired
key valid but not allowed / cross-site 403    forbidden / cross_site_request
unknown check, cashbox, route          404    not_found
journal ``DuplicateConflict``          409    duplicate_check
refunds of one sale beyond the sale    409    refund_exceeds_original (``http.refunds``)
wrong method                           405    method_not_allowed
wrong content type                     415    unsupported_media_type
body too large                         413    body_too_large
queue or rate limit full               429    queue_full / rate_limited (+ Retry-After)
device refused the operation           422    device_refused (+ device_code, device_error)
device unreachable (sync mode)         503    device_unavailable (+ Retry-After)
job failed without printing            503    its error code, e.g. operator_failed (+ Retry-After:
                                              the same key runs it again)
====================================== ====== =========================================================

A ``ConfigError`` is the operator's mistake, never the client's: it is a 500, logged, and not mapped here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import msgspec
from aiohttp import web

from kkm_bridge.journal import DuplicateConflict
from kkm_bridge.model.errors import Problem

from .schemas import ErrorBody, ErrorDetail, ErrorResponse

__all__ = ["ApiError", "error_response", "from_problems", "from_msgspec", "from_duplicate", "json_response"]


class ApiError(Exception):
    """An HTTP error answer. Raised anywhere in a handler; the error middleware renders the envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Iterable[ErrorDetail] = (),
        *,
        headers: Mapping[str, str] | None = None,
        device_code: int | None = None,
        device_error: str | None = None,
        fiscal_check_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.body = ErrorBody(
            code=code, message=message, details=list(details), device_code=device_code,
            device_error=device_error, fiscal_check_id=fiscal_check_id,
        )
        self.headers = dict(headers or {})

    @property
    def code(self) -> str:
        return self.body.code


#: One encoder for every answer (msgspec's module-level ``encode`` would look its default one up each call).
_ENCODER = msgspec.json.Encoder()


def json_response(body: msgspec.Struct, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=_ENCODER.encode(body), status=status, content_type="application/json", headers=headers)


def error_response(error: ApiError) -> web.Response:
    return json_response(ErrorResponse(error=error.body), error.status, error.headers)


def from_problems(problems: Iterable[Problem]) -> ApiError:
    """400 listing every problem; the first one's code and message head the envelope.

    Clients switch on ``error.code`` for the common single-problem case (``vat_rate_not_allowed``,
    ``total_mismatch``, ``bad_iin_checksum``) and read ``details`` for the full list.
    """
    details = [ErrorDetail(path=p.path or "/", code=p.code, message=p.message) for p in problems]
    first = details[0] if details else ErrorDetail("/", "validation_error", "invalid request")
    return ApiError(400, first.code, first.message, details)


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _pointer(msgspec_path: str) -> str:
    """``$.items[0].price`` -> ``/items/0/price``."""
    return "".join(f"/{m.group(1) or m.group(2)}" for m in _SEGMENT.finditer(msgspec_path)) or "/"


def from_msgspec(exc: msgspec.ValidationError) -> ApiError:
    """A shape/type error from decoding: one detail with a JSON-pointer path and a stable code."""
    text = str(exc)
    match = _AT.search(text)
    path = _pointer(match.group("path")) if match else "/"
    message = text[: match.start()] if match else text
    code = "invalid_field"
    unknown = re.match(r"Object contains unknown field `(.*)`", message)
    missing = re.match(r"Object missing required field `(.*)`", message)
    if unknown:
        code, path = "unknown_field", f"{path.rstrip('/')}/{unknown.group(1)}"
    elif missing:
        code, path = "missing_field", f"{path.rstrip('/')}/{missing.group(1)}"
    return ApiError(400, code, message, [ErrorDetail(path=path, code=code, message=message)])


def from_duplicate(exc: DuplicateConflict) -> ApiError:
    what = "idempotency key" if exc.field == "idempotency_key" else exc.field.replace("_", " ")
    return ApiError(
        409, "duplicate_check",
        f"Duplicate check: this {what} was already used for a different request",
        [ErrorDetail(path=f"/{exc.field}", code="duplicate_check", message=f"{what} already used")],
        fiscal_check_id=exc.existing_job_id,
    )


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")
