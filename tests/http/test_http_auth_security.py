"""Authentication, tokens, cross-site refusal, content types, body and rate limits, secrets kept out of logs."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from http_testutil import StartApi
from http_testutil import API_KEY, Api, journal_jobs, sell_body

from kkm_bridge.config import Config, HttpSettings
from kkm_bridge.http.auth import Authenticator, Principal, load_secret
from simulators.atol import Simulator


async def test_login_with_either_scheme_and_use_the_token(api: Api, simulator: Simulator) -> None:
    for scheme in ("ApiKey", "NCALayer-Token"):
        status, body, _ = await api.post("/api/v1/auth/login", {"bin": "123456789012"}, auth=f"{scheme} {API_KEY}")
        assert status == 200, body
        assert body["success"] is True and body["expires_in"] == 86400 and body["fiscal_id"] == "FL2026000001"
        status, check, _ = await api.post("/api/v1/check/sell", sell_body(), auth=f"Bearer {body['access_token']}")
        assert status == 200 and check["fiscal_sign"]


@pytest.mark.parametrize(
    ("auth", "status", "code"),
    [
        ("", 401, "unauthorized"),
        ("ApiKey wrong-key", 401, "unauthorized"),
        ("Basic dXNlcjpwYXNz", 401, "unauthorized"),
        ("ApiKey", 401, "unauthorized"),
        ("Bearer kb1.x.y.z.w", 403, "forbidden"),
    ],
)
async def test_login_failures(api: Api, auth: str, status: int, code: str) -> None:
    got, body, headers = await api.post("/api/v1/auth/login", None, auth=auth)
    assert got == status and body["error"]["code"] == code
    if status == 401:
        assert headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "auth", ["", f"ApiKey {API_KEY}", "Bearer nonsense", "Bearer kb1.dGVzdHM.9999999999.AAAA.AAAA", "Bearer "]
)
async def test_calls_need_a_valid_bearer_token(api: Api, simulator: Simulator, config: Config, auth: str) -> None:
    status, body, _ = await api.post("/api/v1/check/sell", sell_body(), auth=auth)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body, _ = await api.get("/api/v1/device/status", auth=auth)
    assert status == 401
    assert simulator.documents == [] and journal_jobs(config) == []


async def test_expired_and_tampered_tokens(api: Api, config: Config) -> None:
    secret = load_secret(config.state_dir)
    old = Authenticator(config.api_keys, secret, 60, clock=lambda: 1000.0).issue(Principal("tests", 1060))
    status, body, _ = await api.get("/api/v1/device/status", auth=f"Bearer {old}")
    assert status == 401 and body["error"]["code"] == "token_expired"
    assert api.token is not None
    head, _, sig = api.token.rpartition(".")
    forged = head.replace(head.split(".")[2], "9999999999") + "." + sig
    status, body, _ = await api.get("/api/v1/device/status", auth=f"Bearer {forged}")
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_refresh_gives_a_new_working_token(api: Api) -> None:
    status, body, _ = await api.post("/api/v1/auth/refresh")
    assert status == 200 and body["access_token"] != api.token
    status, _, _ = await api.get("/api/v1/device/status", auth=f"Bearer {body['access_token']}")
    assert status == 200
    status, body, _ = await api.post("/api/v1/auth/refresh", auth="Bearer junk")
    assert status == 401


async def test_tokens_survive_a_restart(start_api: StartApi, config: Config, simulator: Simulator) -> None:
    first = await start_api(config)
    await first.daemon.stop()
    second = await start_api(dataclasses.replace(config))
    status, _, _ = await second.get("/api/v1/device/status", auth=f"Bearer {first.token}")
    assert status == 200


async def test_public_endpoints_need_no_token(api: Api) -> None:
    status, body, _ = await api.get("/healthz", auth="")
    assert status == 200 and body["status"] in ("ok", "degraded")
    status, body, _ = await api.get("/api/v1/openapi.json", auth="")
    assert status == 200 and body["openapi"].startswith("3.")


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1.evil.example:8080"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_cross_site_browser_requests_are_refused(
    api: Api, simulator: Simulator, config: Config, headers: dict[str, str]
) -> None:
    status, body, _ = await api.post("/api/v1/check/sell", sell_body(), headers=headers)
    assert status == 403 and body["error"]["code"] == "cross_site_request"
    status, body, _ = await api.request("OPTIONS", "/api/v1/check/sell", headers=headers)
    assert status == 403
    assert simulator.documents == [] and journal_jobs(config) == []


async def test_loopback_and_configured_origins_are_allowed(
    start_api: StartApi, config: Config, simulator: Simulator
) -> None:
    api = await start_api(dataclasses.replace(config, http=HttpSettings(("https://shop.example",))))
    for origin in ("http://localhost:3000", "http://127.0.0.1:8080", "https://shop.example"):
        status, body, headers = await api.post("/api/v1/check/sell", sell_body(),
                                               headers={"Origin": origin, "Sec-Fetch-Site": "cross-site"})
        assert status == 200, body
        assert headers["Access-Control-Allow-Origin"] == origin
    status, _, headers = await api.request("OPTIONS", "/api/v1/check/sell", auth="",
                                           headers={"Origin": "https://shop.example"})
    assert status == 204 and "Authorization" in headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
async def test_post_bodies_must_be_json(api: Api, simulator: Simulator, content_type: str) -> None:
    status, body, _ = await api.post("/api/v1/check/sell", b'{"items": []}', headers={"Content-Type": content_type})
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"
    assert simulator.documents == []


async def test_body_size_limit(start_api: StartApi, config: Config, simulator: Simulator) -> None:
    api = await start_api(dataclasses.replace(config, limits=dataclasses.replace(config.limits,
                                                                                 max_body_bytes=2048)))
    big = sell_body(items=[{"name": "x" * 100, "quantity": 1, "price": 1, "vat_rate": 16}] * 40, total_sum=40)
    status, body, _ = await api.post("/api/v1/check/sell", big)
    assert status == 413 and body["error"]["code"] == "body_too_large"
    status, body, _ = await api.post("/api/v1/check/sell", sell_body())
    assert status == 200
    assert len(simulator.documents) == 2  # shift open + the one sale


async def test_rate_limit_is_429_with_retry_after(start_api: StartApi, config: Config, simulator: Simulator) -> None:
    limited = dataclasses.replace(config, limits=dataclasses.replace(config.limits, rate_per_second=0.01, burst=3))
    api = await start_api(limited)  # the login counts for the client address, the calls for the key
    statuses = [(await api.get("/api/v1/device/status"))[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    status, body, headers = await api.get("/api/v1/device/status")
    assert status == 429 and body["error"]["code"] == "rate_limited" and int(headers["Retry-After"]) >= 1


async def test_unknown_route_and_method(api: Api) -> None:
    status, body, _ = await api.get("/api/v1/nope")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body, _ = await api.get("/api/v1/check/sell")
    assert status in (404, 405) and body["success"] is False
    status, body, _ = await api.request("DELETE", "/api/v1/check/sell")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"


async def test_no_secrets_in_logs(api: Api, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    await api.login()
    await api.post("/api/v1/check/sell", sell_body(client={"bin_iin": "Not specified", "phone": "+77051234567"}))
    await api.post("/api/v1/auth/login", None, auth="ApiKey wrong-secret-key")
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert api.token is not None
    for secret in (API_KEY, api.token, api.token.rsplit(".", 1)[1], "wrong-secret-key", "+77051234567"):
        assert secret not in text
    assert any(getattr(r, "check_id", None) for r in caplog.records if r.name == "kkm_bridge.http.access")
