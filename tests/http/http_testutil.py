"""Helpers for the HTTP API tests: a real daemon on an ephemeral loopback port, an embedded simulator, and a
small client that logs in and speaks JSON."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from kkm_bridge.config import ApiKey, Config, DeviceSettings, Limits, Registration, hash_key
from kkm_bridge.daemon import Daemon, tax_table
from kkm_bridge.journal import Journal
from simulators.atol import DeviceConfig, Faults, Simulator, WireTiming
from simulators.atol.sim_transport import register_simulator, unregister_simulator

API_KEY = "test-key-" + "x" * 24
FISCAL_ID = "FL2026000001"

MILK = {"name": "Milk", "quantity": 1, "price": 500, "vat_rate": 16, "measurement": "pcs"}


def sell_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"items": [dict(MILK)], "total_sum": 500, "payment_type": "cash"}
    body.update(overrides)
    return body


def device_settings(name: str, tmp: Path, **overrides: Any) -> DeviceSettings:
    base = DeviceSettings(
        id="kkm1", uri=f"sim://{name}", fiscal_id=FISCAL_ID, country="KZ",
        fiscal_numbers=("9999078900001234",),
        registration=Registration("032600010282", "SWK00033717", "http://consumer.oofd.kz"),
        simulator={"state": str(tmp / "sim.sqlite3")},
    )
    return dataclasses.replace(base, **overrides)


def make_config(tmp: Path, devices: tuple[DeviceSettings, ...], **limits: Any) -> Config:
    return Config(
        host="127.0.0.1", port=0, state_dir=tmp / "state", api_keys=(ApiKey("tests", hash_key(API_KEY)),),
        devices=devices, limits=dataclasses.replace(Limits(rate_per_second=1000, burst=1000), **limits),
    )


def make_simulator(settings: DeviceSettings, faults: Faults | None = None, command_seconds: float = 0.0) -> Simulator:
    """The embedded simulator the daemon's ``sim://`` device reaches, programmed like the device.
    ``command_seconds`` is its processing time per command (to hold a job in flight)."""
    sim = Simulator(DeviceConfig(sign_key_seed=11), state_path=settings.simulator.get("state"),
                    tax_table=dict(tax_table(settings)), faults=faults,
                    timing=WireTiming(command_seconds=command_seconds))
    register_simulator(settings.uri.split("://", 1)[1], sim)
    return sim


def unique_name() -> str:
    return f"http-{uuid.uuid4().hex[:12]}"


class Api:
    """A JSON client for one daemon. ``token`` is set by ``login``; every call returns (status, body, headers)."""

    def __init__(self, daemon: Daemon, session: aiohttp.ClientSession) -> None:
        self.daemon = daemon
        self.session = session
        self.url = daemon.url
        self.token: str | None = None

    async def login(self) -> str:
        status, body, _ = await self.post("/api/v1/auth/login", None, auth=f"ApiKey {API_KEY}")
        assert status == 200, body
        self.token = body["access_token"]
        return self.token

    def _headers(self, auth: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
        out: dict[str, str] = {}
        if auth == "":
            pass  # no Authorization header at all
        elif auth is not None:
            out["Authorization"] = auth
        elif self.token is not None:
            out["Authorization"] = f"Bearer {self.token}"
        out.update(headers or {})
        return out

    async def request(self, method: str, path: str, *, data: bytes | None = None, auth: str | None = None,
                      headers: Mapping[str, str] | None = None) -> tuple[int, Any, Mapping[str, str]]:
        async with self.session.request(method, self.url + path, data=data,
                                        headers=self._headers(auth, headers)) as response:
            raw = await response.read()
            body: Any = raw
            if response.content_type == "application/json":
                body = json.loads(raw, parse_float=Decimal)
            return response.status, body, response.headers

    async def post(self, path: str, body: Any = None, *, auth: str | None = None,
                   headers: Mapping[str, str] | None = None) -> tuple[int, Any, Mapping[str, str]]:
        data = None
        extra = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            extra.setdefault("Content-Type", "application/json")
        return await self.request("POST", path, data=data, auth=auth, headers=extra)

    async def get(self, path: str, *, auth: str | None = None,
                  headers: Mapping[str, str] | None = None) -> tuple[int, Any, Mapping[str, str]]:
        return await self.request("GET", path, auth=auth, headers=headers)

    async def wait_done(self, status_url: str, timeout: float = 20.0) -> dict[str, Any]:
        """Poll a status URL until the job is done or failed."""
        path = status_url.split(self.url, 1)[1]
        async with asyncio.timeout(timeout):
            while True:
                status, body, _ = await self.get(path)
                assert status == 200, body
                if body["status"] in ("done", "failed"):
                    return dict(body)
                await asyncio.sleep(0.02)


def journal_jobs(config: Config) -> list[Any]:
    """Every job in the daemon's journal file (a second connection, as an operator would read it)."""
    with Journal.open(config.journal_path) as journal:
        return journal.list_jobs(limit=1000)


def unregister(name: str) -> None:
    unregister_simulator(name)


#: What the ``start_api`` fixture returns: start a daemon for a config, get a logged-in client.
StartApi = Callable[[Config], Awaitable[Api]]
