"""Request middlewares: the error envelope and access log, cross-site refusal, content type, auth, rate limit.

Why refuse cross-site requests on a loopback daemon: any web page the cashier opens can make the browser
send requests to ``http://127.0.0.1:8080``. Three rules close that door:

* a request carrying an ``Origin`` that is not loopback or in ``http.allowed_origins`` is refused (403
  ``cross_site_request``), and so is one whose ``Sec-Fetch-Site`` says cross-site without such an
  Origin; requests without either header (curl, POS programs, server-side code) are not browsers'.
* a POST with a body must be ``application/json``: the content types an HTML form or a "simple" CORS
  request can send (form-urlencoded, multipart, text/plain) are refused with 415, so a page cannot post
  without a CORS preflight, which it does not get.
* everything except login/refresh/health/openapi needs ``Authorization: Bearer``, a header browsers
  never add on their own.

Logs never contain the Authorization header, tokens, keys or bodies; the access log line carries the
check id when the request made or read one.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from kkm_bridge.config import is_loopback_host

from .auth import Authenticator
from .errors import ApiError, error_response

__all__ = ["AUTH_KEY", "CHECK_ID", "PRINCIPAL", "PUBLIC_PATHS", "RateLimiter", "middlewares"]

log = logging.getLogger("kkm_bridge.http")
access_log = logging.getLogger("kkm_bridge.http.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Reachable without a Bearer token. openapi.json is public on purpose: it holds no data, only the schema
#: the server already enforces, and tools (schemathesis, code generators) must read it before logging in.
PUBLIC_PATHS = frozenset({"/healthz", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/openapi.json"})
_JSON_TYPES = frozenset({"application/json"})
AUTH_KEY: web.AppKey[Authenticator] = web.AppKey("authenticator", Authenticator)
#: The check/operation id a request made or read: the access log line carries it.
CHECK_ID: web.RequestKey[str] = web.RequestKey("check_id", str)
#: The configured API key's name (never the key) behind the request's token.
PRINCIPAL: web.RequestKey[str] = web.RequestKey("principal", str)
_QR_PATH = re.compile(r"^/api/v1/check/[^/]+/qr$")


class RateLimiter:
    """A token bucket per client: ``rate`` requests per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> float:
        """0.0 if allowed, else the seconds to wait before the next request would be."""
        now = self._clock()
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > 10_000:  # bounded memory whatever clients do
            self._buckets.clear()
        return (1.0 - tokens) / self.rate


def _needs_token(path: str) -> bool:
    """Everything under /api/ except the public paths and the QR images (their id is the capability)."""
    if not path.startswith("/api/") or path in PUBLIC_PATHS:
        return False
    return not (path.endswith("/qr") and _QR_PATH.match(path))


def _origin_allowed(origin: str, allowed: frozenset[str]) -> bool:
    if origin.rstrip("/") in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.hostname is not None and is_loopback_host(parts.hostname)


def middlewares(
    *, allowed_origins: frozenset[str], limiter: RateLimiter | None
) -> list[Middleware]:
    @web.middleware
    async def envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every error leaves as the JSON envelope; one structured access-log line per request."""
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except ApiError as exc:
            status = exc.status
            return error_response(exc)
        except web.HTTPException as exc:
            status = exc.status
            code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status, "http_error")
            message = "request body is too large" if exc.status == 413 else exc.reason
            extra = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return error_response(ApiError(exc.status, code, message, headers=extra))
        except Exception:
            log.exception("internal error on %s %s", request.method, request.path,
                          extra={"check_id": request.get(CHECK_ID)})
            return error_response(ApiError(500, "internal_error", "internal error; see the daemon log"))
        finally:
            # One line per request; its extras are only built when the access log is on (off below INFO).
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d", request.method, request.path, status,
                    extra={"method": request.method, "path": request.path, "status": status,
                           "ms": round((time.perf_counter() - started) * 1000, 1),
                           "check_id": request.get(CHECK_ID), "client": request.get(PRINCIPAL)},
                )

    @web.middleware
    async def cross_site(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
        if origin is not None:
            if not _origin_allowed(origin, allowed_origins):
                raise ApiError(403, "cross_site_request", "requests from this web origin are not allowed")
        elif fetch_site in ("cross-site", "same-site"):
            raise ApiError(403, "cross_site_request", "cross-site browser requests are not allowed")
        if request.method == "OPTIONS":
            return web.Response(status=204, headers=_cors(origin))
        response = await handler(request)
        if origin is not None:
            response.headers.update(_cors(origin))
        return response

    @web.middleware
    async def content_type(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in ("POST", "PUT", "PATCH") and (request.content_length or request.body_exists):
            if request.content_type not in _JSON_TYPES:
                raise ApiError(415, "unsupported_media_type", "the request body must be application/json")
        return await handler(request)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        client = request.remote or "local"
        if _needs_token(request.path):
            principal = request.app[AUTH_KEY].verify(request.headers.get("Authorization"))
            request[PRINCIPAL] = principal.key_name
            client = f"key:{principal.key_name}"
        if limiter is not None and request.path != "/healthz":
            wait = limiter.take(client)
            if wait > 0:
                retry = max(1, int(wait + 0.999))
                raise ApiError(429, "rate_limited", "Check limit exceeded: too many requests; retry later",
                               headers={"Retry-After": str(retry)})
        return await handler(request)

    return [envelope, cross_site, content_type, authenticate]


def _cors(origin: str | None) -> dict[str, str]:
    if origin is None:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, Prefer",
        "Access-Control-Allow-Methods": "GET, POST",
        "Vary": "Origin",
    }
