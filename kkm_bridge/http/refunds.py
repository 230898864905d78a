"""Refund answers that only refunds need: the journal's "refunds of this sale would exceed it" as an HTTP error.

The limit itself is enforced by the journal (``kkm_bridge.journal.refunds``), inside the transaction that
accepts the refund, so concurrent refunds of one sale cannot both take its last part. Here the refusal
becomes the error envelope:

    409 refund_exceeds_original  details[0].path: the client's field at fault (``/total_sum``,
                                 ``/items/<i>/quantity``, or ``/fiscal_check_id`` for a full refund that
                                 listed no items), message: how much (or how many) is left to refund.

409 and not 400: the request is valid on its own (the model's per-receipt ``return_exceeds_original`` is the
400), it conflicts with the refunds already recorded, and a failed one among them frees its part again.
"""

from __future__ import annotations

from kkm_bridge.journal import RefundExceedsOriginal

from .errors import ApiError
from .schemas import ErrorDetail, RefundRequest

__all__ = ["REFUND_EXCEEDS_ORIGINAL", "RefundExceedsOriginal", "refund_exceeds"]

REFUND_EXCEEDS_ORIGINAL = "refund_exceeds_original"


def _client_path(exc: RefundExceedsOriginal, payload: RefundRequest, original_path: str) -> str:
    """The journal names the canonical body's field; the client sent the cloud's (see ``mapping``)."""
    if exc.path.startswith("/items/"):
        # Lines the client listed keep their index; lines taken from the sale (a full refund) came from
        # the reference.
        return exc.path if payload.items is not None else original_path
    if payload.total_sum is not None:
        return "/total_sum"
    return "/items" if payload.items is not None else original_path


def refund_exceeds(exc: RefundExceedsOriginal, payload: RefundRequest, original_path: str) -> ApiError:
    """409 ``refund_exceeds_original`` for a refund the journal refused (nothing was journalled or printed)."""
    path = _client_path(exc, payload, original_path)
    return ApiError(409, REFUND_EXCEEDS_ORIGINAL, exc.message,
                    [ErrorDetail(path=path, code=REFUND_EXCEEDS_ORIGINAL, message=exc.message)])
