"""The request and response shapes of ``/api/v1``, as msgspec Structs.

One definition does two jobs: ``decode`` validates a request body against these types (shape and JSON
types: the first mismatch, with its path), and ``openapi`` publishes the same types as the API's schema,
so the document cannot drift from what the server accepts. Semantic rules (amount precision, VAT rates,
totals, identifiers) are the receipt model's business: ``mapping`` hands the decoded body to its builder,
which reports every problem at once.

Amounts are ``Decimal``: msgspec reads a JSON number *or* a numeric string into it exactly (no binary
float on the way), which is what "decimal tenge as JSON numbers or strings" needs. ``vat_rate`` is left
open (number, string such as ``"12"`` / ``"none"``, or null) for the model's rate parser, and "absent" is
kept apart from ``null`` (absent is an error, null means "no VAT").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

__all__ = [
    "Amount", "AcceptedResponse", "CashRequest", "CashierIn", "CheckResponse", "ChecksResponse", "ClientIn",
    "DeviceStatusResponse", "ErrorBody", "ErrorDetail", "ErrorResponse", "HealthResponse", "ItemIn",
    "LoginRequest", "LoginResponse", "OperationResponse", "OriginalIn", "PaymentIn", "RefundRequest",
    "RegisterRequest", "RegisterResponse", "SellRequest", "ShiftRequest", "VatLine", "decoder",
]

#: A money amount or quantity: a JSON number or a numeric string, read exactly.
Amount = Annotated[Decimal, Meta(description="decimal number (JSON number or numeric string), e.g. 1500.50")]
Text = Annotated[str, Meta(max_length=256)]
Key = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
VatRateValue = Annotated[
    Any,
    Meta(
        description='VAT rate percent (12, "16", "16%"), "none" or null for no VAT',
        extra_json_schema={"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 16}, {"type": "null"}]},
    ),
]


class _In(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Request parts reject unknown fields: a typo such as ``qty`` must not be silently ignored."""


class ClientIn(_In):
    bin_iin: Text | None = None
    phone: Text | None = None
    email: Text | None = None
    name: Text | None = None


class CashierIn(_In):
    name: Text
    iin: Text | None = None


class ItemIn(_In):
    name: Annotated[str, Meta(max_length=1024)]
    quantity: Amount
    price: Amount
    vat_rate: VatRateValue | UnsetType = UNSET
    vat_sum: Amount | None = None
    measurement: Annotated[int, Meta(ge=0, le=99999)] | Text | None = None
    discount: Amount | None = None
    section: Annotated[int, Meta(ge=0, le=9999)] | None = None
    kind: Literal["goods", "work", "service"] | None = None
    product_code: Text | None = None
    barcode: Text | None = None


class PaymentIn(_In):
    type: Text
    sum: Amount


class OriginalIn(_In):
    """The sale a refund returns, when it is not referenced by ``fiscal_check_id``."""

    fiscal_sign: Text
    date_time: Text
    registration_number: Text
    total: Amount


class _Common(_In, kw_only=True):
    fiscal_id: Text | None = None
    idempotency_key: Key | None = None
    cashier: Text | CashierIn | None = None
    async_: bool = msgspec.field(default=False, name="async")


class SellRequest(_Common, kw_only=True):
    items: Annotated[list[ItemIn], Meta(max_length=1000)]
    client: ClientIn | None = None
    total_sum: Amount | None = None
    payment_type: Text | None = None
    payments: Annotated[list[PaymentIn], Meta(max_length=16)] | None = None
    order_id: Key | None = None
    electronic: bool = False


class RefundRequest(_Common, kw_only=True):
    """A sell return. Reference the sale by ``fiscal_check_id`` (then ``items`` may be omitted to return
    everything) or by ``original`` (fiscal sign, date-time, registration number, total)."""

    fiscal_check_id: Key | None = None
    original: OriginalIn | None = None
    items: Annotated[list[ItemIn], Meta(max_length=1000)] | None = None
    client: ClientIn | None = None
    total_sum: Amount | None = None
    payment_type: Text | None = None
    payments: Annotated[list[PaymentIn], Meta(max_length=16)] | None = None
    order_id: Key | None = None
    electronic: bool = False


class ShiftRequest(_Common, kw_only=True):
    """Body of shift/open, shift/close and report/x (all optional)."""


class CashRequest(_Common, kw_only=True):
    sum: Amount


class LoginRequest(_In):
    bin: Text | None = None
    inn: Text | None = None


class RegisterRequest(_In):
    fiscal_number: Text
    work_start: Text | None = None


# --- responses ------------------------------------------------------------------------------------


class _Out(Struct, omit_defaults=False):
    pass


class ErrorDetail(_Out):
    path: str
    code: str
    message: str


class ErrorBody(_Out):
    code: str
    message: str
    details: list[ErrorDetail] = []
    #: The device's own error (422): its numeric code and name.
    device_code: int | None = None
    device_error: str | None = None
    #: The check a duplicate (409) collided with.
    fiscal_check_id: str | None = None


class ErrorResponse(_Out):
    error: ErrorBody
    success: Literal[False] = False


class LoginResponse(_Out):
    access_token: str
    expires_in: int
    fiscal_id: str
    token_type: str = "Bearer"
    success: Literal[True] = True


class RegisterResponse(_Out):
    fiscal_id: str
    fiscal_number: str
    device_id: str
    success: Literal[True] = True


class VatLine(_Out):
    rate: str
    sum: str


class CheckResponse(_Out):
    """A check (sale or refund) and, once the device printed it, its fiscal details."""

    fiscal_check_id: str
    status: Literal["accepted", "in_progress", "done", "failed"]
    operation: str
    fiscal_id: str
    status_url: str
    send_status: str
    qr_code: str | None = None
    check_url: str | None = None
    fiscal_sign: str | None = None
    document_number: int | None = None
    shift_number: int | None = None
    receipt_number: int | None = None
    registration_number: str | None = None
    factory_number: str | None = None
    date_time: str | None = None
    total: str | None = None
    change: str | None = None
    vat: list[VatLine] = []
    offline: bool | None = None
    order_id: str | None = None
    replay: bool = False
    error: ErrorBody | None = None
    success: bool = True


class AcceptedResponse(_Out):
    """202: the check is recorded and queued; poll ``status_url``."""

    fiscal_check_id: str
    status: Literal["accepted", "in_progress", "done", "failed"]
    status_url: str
    replay: bool = False
    success: Literal[True] = True


class ChecksResponse(_Out):
    checks: list[CheckResponse]
    success: Literal[True] = True


class OperationResponse(_Out):
    """Shift open/close, X report, cash in/out: the job and the document it produced (if any)."""

    operation_id: str
    operation: str
    status: Literal["accepted", "in_progress", "done", "failed"]
    fiscal_id: str
    status_url: str
    document_number: int | None = None
    fiscal_sign: str | None = None
    shift_number: int | None = None
    date_time: str | None = None
    total: str | None = None
    replay: bool = False
    error: ErrorBody | None = None
    success: bool = True


class DeviceState(_Out):
    fiscal_id: str
    device_id: str
    online: bool
    queue: int
    shift_state: str | None = None
    shift_number: int | None = None
    receipt_open: bool | None = None
    last_document_number: int | None = None
    paper_present: bool | None = None
    cover_open: bool | None = None
    device_time: str | None = None
    model: str | None = None
    serial_number: str | None = None
    registration_number: str | None = None
    last_error: str | None = None


class DeviceStatusResponse(_Out):
    devices: list[DeviceState]
    success: Literal[True] = True


class HealthResponse(_Out):
    status: Literal["ok", "degraded"]
    devices: dict[str, bool]


def decoder(kind: type[Struct]) -> msgspec.json.Decoder[Any]:
    """A JSON decoder for ``kind`` that reads untyped non-integer numbers as ``Decimal`` (never float)."""
    return msgspec.json.Decoder(kind, float_hook=Decimal)
