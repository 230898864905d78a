"""Fixtures: a real daemon (``Daemon.start``) on an ephemeral loopback port with an embedded simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from http_testutil import Api, StartApi, device_settings, make_config, make_simulator, unique_name, unregister

from kkm_bridge.config import Config, DeviceSettings
from kkm_bridge.daemon import Daemon
from simulators.atol import Simulator


@pytest.fixture
def sim_name() -> Iterator[str]:
    name = unique_name()
    yield name
    unregister(name)


@pytest.fixture
def settings(sim_name: str, tmp_path: Path) -> DeviceSettings:
    return device_settings(sim_name, tmp_path)


@pytest.fixture
def simulator(settings: DeviceSettings) -> Simulator:
    return make_simulator(settings)


@pytest.fixture
def config(tmp_path: Path, settings: DeviceSettings) -> Config:
    return make_config(tmp_path, (settings,))



@pytest.fixture
async def start_api() -> AsyncIterator[StartApi]:
    """Start a daemon for a config and return a logged-in client; everything is stopped after the test."""
    started: list[tuple[Daemon, aiohttp.ClientSession]] = []

    async def start(config: Config) -> Api:
        daemon = await Daemon.start(config)
        session = aiohttp.ClientSession()
        started.append((daemon, session))
        api = Api(daemon, session)
        await api.login()
        return api

    yield start
    for daemon, session in reversed(started):
        await session.close()
        await daemon.stop()


@pytest.fixture
async def api(start_api: StartApi, config: Config, simulator: Simulator) -> Api:
    return await start_api(config)
