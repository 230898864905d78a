"""The aiohttp application factory: routes, middlewares and limits around already-built ``Services``."""

from __future__ import annotations

import msgspec
from aiohttp import web

from . import routes_checks, routes_ops
from .openapi import build_openapi
from .requests import SERVICES
from .security import AUTH_KEY, middlewares
from .services import Services

__all__ = ["create_app"]

_OPENAPI: web.AppKey[bytes] = web.AppKey("openapi", bytes)


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=request.app[_OPENAPI], content_type="application/json")


def create_app(services: Services) -> web.Application:
    """An application serving ``/api/v1`` for ``services``. Starting and stopping devices is the caller's."""
    app = web.Application(
        middlewares=middlewares(allowed_origins=frozenset(services.config.http.allowed_origins),
                                limiter=services.limiter),
        client_max_size=services.config.limits.max_body_bytes,
    )
    app[SERVICES] = services
    app[AUTH_KEY] = services.auth
    app[_OPENAPI] = msgspec.json.encode(build_openapi(services.config.http.public_url))
    app.add_routes(routes_ops.routes)
    app.add_routes(routes_checks.routes)
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    return app

