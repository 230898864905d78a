"""Reading a request: the services key, the body decoded into its schema type, the public base URL."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from aiohttp import web

from .errors import ApiError, from_msgspec
from .schemas import decoder
from .security import CHECK_ID, PRINCIPAL
from .services import Services

__all__ = ["CHECK_ID", "PRINCIPAL", "SERVICES", "base_url", "read_body"]

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)

T = TypeVar("T", bound=msgspec.Struct)
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


async def read_body(request: web.Request, kind: type[T]) -> T:
    """Decode the JSON body into ``kind``; an empty body counts as ``{}`` (for all-optional bodies).

    The size limit is aiohttp's ``client_max_size`` (413 before the body is buffered past it).
    """
    raw = await request.read()
    found = _DECODERS.get(kind)
    if found is None:
        found = _DECODERS[kind] = decoder(kind)
    text = raw if raw.strip() else b"{}"
    try:
        result: T = found.decode(text)
    except msgspec.ValidationError as exc:
        # Typed decoding stops at the first wrong type, before it has seen the whole text: a body that is
        # not JSON at all must still be reported as such.
        try:
            msgspec.json.decode(text)
        except msgspec.DecodeError as malformed:
            raise _malformed(malformed) from None
        raise from_msgspec(exc) from None
    except msgspec.DecodeError as exc:
        raise _malformed(exc) from None
    return result


def _malformed(exc: msgspec.DecodeError) -> ApiError:
    return ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}")


def base_url(request: web.Request, services: Services) -> str:
    """Where clients reach this daemon: ``http.public_url`` if configured, else the request's own origin."""
    configured = services.config.http.public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"
