"""sd_notify client against real AF_UNIX datagram sockets (a path in tmp and the abstract namespace)."""

from __future__ import annotations

import array
import asyncio
import os
import socket
import struct
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import kkm_bridge.service.notify as sd

SO_PEERCRED_STRUCT = "3i"  # struct ucred: pid, uid, gid


class Listener:
    """What systemd does: a datagram socket with SO_PASSCRED, reading one message at a time."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value

    def receive(self, timeout: float = 2.0) -> tuple[str, int]:
        """One datagram's text and the sender's pid (from SCM_CREDENTIALS)."""
        self.sock.settimeout(timeout)
        ancillary_size = socket.CMSG_SPACE(struct.calcsize(SO_PEERCRED_STRUCT))
        data, ancdata, _flags, _addr = self.sock.recvmsg(4096, ancillary_size)
        pid = -1
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _uid, _gid = array.array("i", payload[: struct.calcsize(SO_PEERCRED_STRUCT)])
        return data.decode("utf-8"), pid

    def pending(self) -> list[str]:
        messages = []
        self.sock.setblocking(False)
        while True:
            try:
                messages.append(self.sock.recv(4096).decode("utf-8"))
            except BlockingIOError:
                return messages


def _bind(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(address)
    return sock


@pytest.fixture
def path_listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    path = tmp_path / "notify.sock"
    if len(os.fsencode(path)) >= 100:  # sun_path is 108 bytes; long pytest dirs can exceed it
        path = Path(tempfile.mkdtemp(prefix="kkm-notify-")) / "n.sock"
    sock = _bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    with sock:
        yield Listener(sock, str(path))


@pytest.fixture
def abstract_listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    name = f"kkm-bridge-test-{uuid.uuid4().hex}"
    sock = _bind("\0" + name)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    with sock:
        yield Listener(sock, "@" + name)


def test_ready_reaches_a_path_socket_from_this_process(path_listener: Listener) -> None:
    assert sd.notify_ready() is True
    message, pid = path_listener.receive()
    assert message == "READY=1"
    # systemd's NotifyAccess=main checks exactly this: the sender is the main process.
    assert pid == os.getpid()


def test_ready_with_status_is_one_datagram(path_listener: Listener) -> None:
    assert sd.notify_ready("listening on 127.0.0.1:8080")
    message, _ = path_listener.receive()
    assert message.split("\n") == ["READY=1", "STATUS=listening on 127.0.0.1:8080"]


def test_abstract_namespace_socket(abstract_listener: Listener) -> None:
    assert sd.notify_ready() is True
    assert abstract_listener.receive()[0] == "READY=1"
    assert sd.notify_watchdog() is True
    assert abstract_listener.receive()[0] == "WATCHDOG=1"


def test_stopping_status_and_watchdog(path_listener: Listener) -> None:
    assert sd.notify_status("2 devices online")
    assert sd.notify_watchdog()
    assert sd.notify_stopping("finishing 1 receipt")
    assert path_listener.receive()[0] == "STATUS=2 devices online"
    assert path_listener.receive()[0] == "WATCHDOG=1"
    assert path_listener.receive()[0].split("\n") == ["STOPPING=1", "STATUS=finishing 1 receipt"]


def test_status_newlines_cannot_inject_assignments(path_listener: Listener) -> None:
    assert sd.notify_status("line one\nREADY=1\n")
    assert path_listener.receive()[0] == "STATUS=line one READY=1"


def test_status_is_utf8(path_listener: Listener) -> None:
    assert sd.notify_status("смена открыта")
    assert path_listener.receive()[0] == "STATUS=смена открыта"


def test_invalid_key_is_a_programming_error(path_listener: Listener) -> None:
    with pytest.raises(ValueError):
        sd.notify({"BAD=KEY": "1"})


def test_no_op_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd.under_systemd() is False
    assert sd.notify_ready() is False
    assert sd.notify_stopping() is False
    assert sd.notify_status("x") is False
    assert sd.notify_watchdog() is False


@pytest.mark.parametrize("value", ["", "@", "relative/path", "vsock:2:1234"])
def test_unusable_socket_values_are_no_ops(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert sd.notify_socket_address() is None
    assert sd.notify_ready() is False


def test_dead_socket_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    assert sd.under_systemd() is True
    assert sd.notify_ready() is False


def test_address_translation() -> None:
    assert sd.notify_socket_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert sd.notify_socket_address({"NOTIFY_SOCKET": "@abc"}) == "\0abc"
    assert sd.notify_socket_address({}) is None


# --- watchdog interval -------------------------------------------------------------------------


def test_interval_is_half_of_watchdog_usec_for_this_pid() -> None:
    env = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert sd.watchdog_interval(env) == 15.0


def test_interval_without_watchdog_pid() -> None:
    assert sd.watchdog_interval({"WATCHDOG_USEC": "5000000"}) == 2.5
    assert sd.watchdog_interval({"WATCHDOG_USEC": "1"}) == 0.0000005


def test_interval_for_another_pid_is_none() -> None:
    env = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    assert sd.watchdog_interval(env, pid=4242) is None
    assert sd.watchdog_interval(env, pid=1) == 15.0


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WATCHDOG_USEC": ""},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "-5"},
        {"WATCHDOG_USEC": "30s"},
        {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "main"},
    ],
)
def test_interval_none_when_unset_or_malformed(env: dict[str, str]) -> None:
    assert sd.watchdog_interval(env) is None


def test_interval_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sd.watchdog_interval() == 1.0
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sd.watchdog_interval() is None


# --- the watchdog task -------------------------------------------------------------------------


async def test_watchdog_task_pings_until_stopped(path_listener: Listener) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sd.run_watchdog(stop, interval=0.02))
    await asyncio.sleep(0.15)
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)
    pings = path_listener.pending()
    assert len(pings) >= 3
    assert set(pings) == {"WATCHDOG=1"}
    # Nothing after the stop.
    await asyncio.sleep(0.05)
    assert path_listener.pending() == []


async def test_watchdog_task_uses_the_environment(path_listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "40000")  # 40 ms -> ping every 20 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    stop = asyncio.Event()
    task = asyncio.create_task(sd.run_watchdog(stop))
    await asyncio.sleep(0.12)
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)
    assert len(path_listener.pending()) >= 3


async def test_watchdog_task_stops_promptly_with_a_long_interval(path_listener: Listener) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sd.run_watchdog(stop, interval=3600))
    await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)
    assert path_listener.pending() == ["WATCHDOG=1"]


async def test_watchdog_task_returns_at_once_without_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    await asyncio.wait_for(sd.run_watchdog(asyncio.Event()), timeout=1.0)
    # An interval without a socket is still a no-op.
    await asyncio.wait_for(sd.run_watchdog(asyncio.Event(), interval=0.01), timeout=1.0)


async def test_watchdog_skips_pings_while_unhealthy(path_listener: Listener) -> None:
    stop = asyncio.Event()
    state = {"healthy": False}
    task = asyncio.create_task(sd.run_watchdog(stop, interval=0.02, healthy=lambda: state["healthy"]))
    await asyncio.sleep(0.1)
    assert path_listener.pending() == []
    state["healthy"] = True
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)
    assert len(path_listener.pending()) >= 2


async def test_watchdog_health_check_exception_skips_the_ping(path_listener: Listener) -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    stop = asyncio.Event()
    task = asyncio.create_task(sd.run_watchdog(stop, interval=0.02, healthy=broken))
    await asyncio.sleep(0.08)
    stop.set()
    await asyncio.wait_for(task, timeout=1.0)
    assert path_listener.pending() == []


async def test_watchdog_rejects_a_non_positive_interval(path_listener: Listener) -> None:
    with pytest.raises(ValueError):
        await sd.run_watchdog(asyncio.Event(), interval=0)
