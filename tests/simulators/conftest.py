"""Shared fixtures: an in-process simulator on a manual clock, and a tiny host that talks v3 to it."""

from __future__ import annotations

import pytest
from sim_testutil import FakeMonotonic

from simulators.atol import DeviceConfig, Faults, ManualClock, Simulator
from simulators.atol.testing import InProcessHost


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def mono() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def sim(clock: ManualClock, mono: FakeMonotonic) -> Simulator:
    return Simulator(DeviceConfig(sign_key_seed=7), clock=clock, faults=Faults(seed=1), monotonic=mono)


@pytest.fixture
def host(sim: Simulator) -> InProcessHost:
    return InProcessHost(sim)
