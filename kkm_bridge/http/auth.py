"""API keys (hashed at rest) and the short-lived access tokens handed out for them.

Login: ``Authorization: NCALayer-Token <key>`` (the cloud API's spelling) or ``Authorization: ApiKey <key>``.
The key is hashed and compared with every configured hash in constant time (``hmac.compare_digest``, all of
them, no early exit), so neither the key nor which key matched leaks through timing.

Tokens are HMAC-SHA256 signed, not stored: ``kb1.<key name>.<expiry>.<nonce>.<signature>`` (fields
base64url). Nothing to look up per request, nothing to clean up, and they survive a daemon restart because
the signing secret is a 0600 file in the state directory (a POS that logged in keeps working after the
daemon restarts). A token dies when it expires or when its key is removed from the config. Rotating the
secret file invalidates every token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kkm_bridge.config import ApiKey, hash_key

from .errors import ApiError

__all__ = ["Authenticator", "Principal", "load_secret"]

SECRET_FILE = "token-secret"
_LOGIN_SCHEMES = ("ncalayer-token", "apikey")


def load_secret(state_dir: Path) -> bytes:
    """The token-signing secret: 32 random bytes in ``<state>/token-secret`` (0600), created once."""
    path = state_dir / SECRET_FILE
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
        raise ValueError(f"{path} is too short to be a token secret; delete it to make a new one") from None
    with os.fdopen(fd, "wb") as out:
        data = secrets.token_bytes(32)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return data


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Principal:
    """Who is calling: the configured key's name (never the key)."""

    key_name: str
    expires_at: int


def _unauthorized(message: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": 'Bearer realm="kkm-bridge"'})


def _split(header: str | None) -> tuple[str, str]:
    if not header:
        raise _unauthorized("missing Authorization header")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value:
        raise _unauthorized("malformed Authorization header")
    return scheme.lower(), value


class Authenticator:
    def __init__(
        self, keys: Iterable[ApiKey], secret: bytes, ttl: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = tuple(keys)
        self._names = frozenset(key.name for key in self._keys)
        self._secret = secret
        self.ttl = ttl
        self._clock = clock

    def _key_name(self, key: str) -> str | None:
        digest = hash_key(key).encode("ascii")
        found: str | None = None
        for configured in self._keys:
            if hmac.compare_digest(digest, configured.sha256.encode("ascii")) and found is None:
                found = configured.name
        return found

    def login(self, header: str | None) -> Principal:
        """Check an API key presented for login; 401 if absent/unknown, 403 for the wrong scheme."""
        scheme, value = _split(header)
        if scheme == "bearer":
            raise ApiError(403, "forbidden", "log in with an API key (ApiKey or NCALayer-Token), not a token")
        if scheme not in _LOGIN_SCHEMES:
            raise _unauthorized("unsupported Authorization scheme; use ApiKey or NCALayer-Token")
        name = self._key_name(value)
        if name is None:
            raise _unauthorized("invalid API key")
        return Principal(name, int(self._clock()) + self.ttl)

    def issue(self, principal: Principal) -> str:
        nonce = secrets.token_bytes(12)
        payload = f"kb1.{_b64(principal.key_name.encode())}.{principal.expires_at}.{_b64(nonce)}"
        return f"{payload}.{_b64(self._sign(payload))}"

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest()

    def verify(self, header: str | None) -> Principal:
        """A valid Bearer token's principal; 401 otherwise (``token_expired`` when only the time is wrong)."""
        scheme, token = _split(header)
        if scheme != "bearer":
            raise _unauthorized("a Bearer access token is required (POST /api/v1/auth/login first)")
        parts = token.split(".")
        if len(parts) != 5 or parts[0] != "kb1" or len(token) > 512:
            raise _unauthorized("invalid access token")
        payload = ".".join(parts[:4])
        try:
            signature = _unb64(parts[4])
            name = _unb64(parts[1]).decode("utf-8")
            expires = int(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise _unauthorized("invalid access token") from None
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise _unauthorized("invalid access token")
        if name not in self._names:
            raise _unauthorized("the key of this token is no longer configured")
        if expires <= self._clock():
            raise _unauthorized("access token expired; log in again or refresh", "token_expired")
        return Principal(name, expires)

    def refresh(self, header: str | None) -> Principal:
        """A new lifetime for a valid token, or a login with a key (both schemes work here)."""
        scheme, _ = _split(header)
        if scheme == "bearer":
            current = self.verify(header)
            return Principal(current.key_name, int(self._clock()) + self.ttl)
        return self.login(header)
