"""Fixtures: a journal file, an in-process simulator reached through ``sim://`` and the real ATOL driver."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kkm_bridge.journal import AsyncJournal
from simulators.atol import DeviceConfig, Faults, Simulator

_names = itertools.count(1)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[AsyncJournal]:
    j = await AsyncJournal.open(tmp_path / "journal.sqlite3")
    yield j
    await j.close()


@pytest.fixture
def sim(tmp_path: Path) -> Simulator:
    return Simulator(DeviceConfig(sign_key_seed=7), state_path=tmp_path / "sim.json", faults=Faults(seed=1))


@pytest.fixture
def sim_uri(sim: Simulator) -> Iterator[str]:
    from simulators.atol.sim_transport import register_simulator, unregister_simulator

    name = f"workers{next(_names)}"
    register_simulator(name, sim)
    yield f"sim://{name}"
    unregister_simulator(name)
