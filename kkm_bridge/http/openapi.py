"""The OpenAPI 3.1 document, generated from the msgspec types that validate requests and shape responses.

The operations are listed once here (method, path, request type, answers); the schemas come from
``msgspec.json.schema_components`` over the same Structs the handlers decode into, so the document and the
server cannot disagree about a field. A test checks that every route the app serves is documented.

Decimal fields: msgspec describes ``Decimal`` as a string; the API also takes JSON numbers for amounts
("decimal tenge as JSON numbers or strings"), so those schemas are widened to number-or-numeric-string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from kkm_bridge import __version__

from . import schemas as s

__all__ = ["OPERATIONS", "Operation", "build_openapi"]

_REF = "#/components/schemas/{name}"
_DECIMAL = {
    "anyOf": [
        {"type": "number"},
        {"type": "string", "pattern": r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$", "maxLength": 64},
    ],
}

@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    request: type[msgspec.Struct] | None = None
    ok: dict[int, type[msgspec.Struct] | str] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    public: bool = False
    query: tuple[tuple[str, dict[str, Any]], ...] = ()
    path_params: tuple[str, ...] = ()
    idempotent_headers: bool = False


_INT = {"type": "integer", "minimum": 0}
OPERATIONS: tuple[Operation, ...] = (
    Operation("post", "/api/v1/auth/login", "Exchange an API key (ApiKey or NCALayer-Token) for an access token",
              s.LoginRequest, {200: s.LoginResponse}, (400, 401, 403, 413, 415, 429), public=True),
    Operation("post", "/api/v1/auth/refresh", "A new access token for a valid token or key",
              s.LoginRequest, {200: s.LoginResponse}, (400, 401, 403, 413, 415, 429), public=True),
    Operation("post", "/api/v1/fiscal/register", "Bind a fiscal number to a configured cashbox",
              s.RegisterRequest, {200: s.RegisterResponse}, (400, 401, 403, 404, 413, 415, 429)),
    Operation("post", "/api/v1/check/sell", "Fiscalize a sale", s.SellRequest,
              {200: s.CheckResponse, 202: s.AcceptedResponse}, (400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
              idempotent_headers=True),
    Operation("post", "/api/v1/check/refund", "Fiscalize a sell return of an earlier check", s.RefundRequest,
              {200: s.CheckResponse, 202: s.AcceptedResponse}, (400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
              idempotent_headers=True),
    Operation("get", "/api/v1/check/{check_id}", "A check's state and fiscal data", None,
              {200: s.CheckResponse}, (401, 403, 404, 429), path_params=("check_id",)),
    Operation("get", "/api/v1/check/{check_id}/qr", "The QR code of a printed check (PNG; the id is the key)",
              None, {200: "image/png"}, (403, 404, 429), public=True, path_params=("check_id",)),
    Operation("get", "/api/v1/checks", "Check history, newest first", None, {200: s.ChecksResponse},
              (400, 401, 403, 404, 429),
              query=(("fiscal_id", {"type": "string"}), ("shift", _INT), ("from", {"type": "string", "format": "date-time"}),
                     ("to", {"type": "string", "format": "date-time"}),
                     ("limit", {"type": "integer", "minimum": 1, "maximum": 1000}), ("offset", _INT))),
    Operation("post", "/api/v1/shift/open", "Open a shift", s.ShiftRequest,
              {200: s.OperationResponse, 202: s.OperationResponse},
              (400, 401, 403, 404, 409, 413, 415, 422, 429, 503), idempotent_headers=True),
    Operation("post", "/api/v1/shift/close", "Close the shift (Z report)", s.ShiftRequest,
              {200: s.OperationResponse, 202: s.OperationResponse},
              (400, 401, 403, 404, 409, 413, 415, 422, 429, 503), idempotent_headers=True),
    Operation("post", "/api/v1/report/x", "Print an X report", s.ShiftRequest,
              {200: s.OperationResponse, 202: s.OperationResponse},
              (400, 401, 403, 404, 409, 413, 415, 422, 429, 503), idempotent_headers=True),
    Operation("post", "/api/v1/cash/in", "Cash into the drawer", s.CashRequest,
              {200: s.OperationResponse, 202: s.OperationResponse},
              (400, 401, 403, 404, 409, 413, 415, 422, 429, 503), idempotent_headers=True),
    Operation("post", "/api/v1/cash/out", "Cash out of the drawer", s.CashRequest,
              {200: s.OperationResponse, 202: s.OperationResponse},
              (400, 401, 403, 404, 409, 413, 415, 422, 429, 503), idempotent_headers=True),
    Operation("get", "/api/v1/operation/{operation_id}", "A shift, report or cash operation's state", None,
              {200: s.OperationResponse}, (401, 403, 404, 429), path_params=("operation_id",)),
    Operation("get", "/api/v1/device/status", "Device and queue status", None, {200: s.DeviceStatusResponse},
              (401, 403, 404, 429), query=(("fiscal_id", {"type": "string"}),)),
    Operation("get", "/healthz", "Liveness", None, {200: s.HealthResponse}, (403,), public=True),
    Operation("get", "/api/v1/openapi.json", "This document", None, {200: "application/json"}, (403,),
              public=True),
)

_DESCRIPTIONS = {
    400: "validation error (every problem listed in error.details)", 401: "missing, invalid or expired credentials",
    403: "forbidden, or a cross-site browser request", 404: "not found", 409: "duplicate_check: idempotency key "
    "or order id reused with a different body; refund_exceeds_original: refunds of one sale beyond its total or "
    "quantities", 413: "body too large", 415: "the body must be application/json",
    422: "the device refused (device_code, device_error)", 429: "queue or rate limit full (Retry-After)",
    503: "device unavailable or timed out (Retry-After)",
}


def _widen_decimals(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "decimal":
            widened = dict(_DECIMAL)
            if "description" in node:
                widened["description"] = node["description"]
            return widened
        return {key: _widen_decimals(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_widen_decimals(item) for item in node]
    return node


def _content(kind: type[msgspec.Struct] | str, refs: dict[type[Any], Any]) -> dict[str, Any]:
    if isinstance(kind, str):
        schema: dict[str, Any] = {"type": "string", "format": "binary"} if kind.startswith("image/") else {
            "type": "object"}
        return {kind: {"schema": schema}}
    return {"application/json": {"schema": refs[kind]}}


def build_openapi(server_url: str | None = None) -> dict[str, Any]:
    types: list[type[Any]] = [s.ErrorResponse]
    for op in OPERATIONS:
        if op.request is not None:
            types.append(op.request)
        types += [t for t in op.ok.values() if not isinstance(t, str)]
    unique = list(dict.fromkeys(types))
    refs_list, components = msgspec.json.schema_components(unique, ref_template=_REF)
    refs = dict(zip(unique, refs_list))
    error_ref = refs[s.ErrorResponse]
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {"summary": op.summary, "operationId": op.method + op.path.replace("/", "_")
                                 .replace("{", "").replace("}", "").replace(".", "_")}
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"}}
            for name in op.path_params
        ]
        params += [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in op.query]
        if op.idempotent_headers:
            params += [
                {"name": "Idempotency-Key", "in": "header", "required": False,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[\x21-\x7e]+$"}},
                {"name": "Prefer", "in": "header", "required": False,
                 "schema": {"type": "string", "enum": ["respond-async"]}},
            ]
        if params:
            entry["parameters"] = params
        if op.request is not None:
            entry["requestBody"] = {"required": False, "content": {"application/json": {"schema": refs[op.request]}}}
        responses: dict[str, Any] = {}
        for status, kind in op.ok.items():
            responses[str(status)] = {"description": "OK" if status == 200 else "Accepted", "content": _content(kind, refs)}
        for status in op.errors:
            responses[str(status)] = {"description": _DESCRIPTIONS[status],
                                      "content": {"application/json": {"schema": error_ref}}}
        entry["responses"] = responses
        entry["security"] = [] if op.public else [{"bearer": []}]
        if op.path == "/api/v1/auth/login" or op.path == "/api/v1/auth/refresh":
            entry["security"] = [{"apiKey": []}]
        paths.setdefault(op.path, {})[op.method] = entry
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "kkm-bridge local fiscal API", "version": __version__,
                 "description": "Mirror of the Kazakhstan cloud OFD REST API (/api/v1) served by a local daemon in "
                                "front of ATOL-protocol fiscal printers. Errors use one envelope: "
                                '{"success": false, "error": {"code", "message", "details": [...]}}.'},
        "paths": paths,
        "components": {
            "schemas": _widen_decimals(components),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "access_token from /auth/login"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "'ApiKey <key>' or 'NCALayer-Token <key>'"},
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
