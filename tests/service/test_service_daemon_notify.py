"""The real daemon (`kkm-bridge serve`, a subprocess) speaks the notify protocol the unit expects:
STATUS while starting, READY=1 once listening, WATCHDOG=1 at WATCHDOG_USEC/2, STOPPING=1 on SIGTERM,
all from the main process (NotifyAccess=main), started through an exec wrapper like /usr/bin/env."""

from __future__ import annotations

import array
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UCRED = struct.calcsize("3i")


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    directory = tempfile.mkdtemp(prefix="kkm-sd-")  # short path: sun_path is 108 bytes
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(path)
    try:
        yield sock, path
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(directory)


def _receive(sock: socket.socket, deadline: float) -> tuple[str, int] | None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    sock.settimeout(remaining)
    try:
        data, ancdata, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(UCRED))
    except TimeoutError:
        return None
    pid = -1
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = array.array("i", payload[:UCRED])[0]
    return data.decode("utf-8"), pid


def _start(path: str, state_dir: Path, watchdog_pid: str) -> subprocess.Popen[str]:
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")  # ping every 0.2 s
    env.pop("WATCHDOG_PID", None)
    # Like ExecStart=/usr/bin/env kkm-bridge ...: a wrapper that execs in place, so the daemon keeps
    # the PID systemd knows. WATCHDOG_PID is set the way systemd sets it: to that PID (or another).
    script = f'WATCHDOG_PID={watchdog_pid}; export WATCHDOG_PID; exec "$@"'
    command = ["/bin/sh", "-c", script, "sh", sys.executable, "-m", "kkm_bridge", "serve",
               "--state-dir", str(state_dir), "--listen", "127.0.0.1:0", "--log-level", "warning"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _collect(sock: socket.socket, process: subprocess.Popen[str], seconds_after_ready: float) -> list[tuple[str, int]]:
    messages: list[tuple[str, int]] = []
    deadline = time.monotonic() + 60
    ready_at: float | None = None
    while True:
        if ready_at is not None:
            deadline = min(deadline, ready_at + seconds_after_ready)
        message = _receive(sock, deadline)
        if message is None:
            break
        messages.append(message)
        if ready_at is None and message[0].startswith("READY=1"):
            ready_at = time.monotonic()
    if ready_at is None:
        process.kill()
        _, stderr = process.communicate(timeout=10)
        pytest.fail(f"no READY=1 from the daemon (got {messages}); stderr: {stderr[-2000:]}")
    return messages


def _stop(sock: socket.socket, process: subprocess.Popen[str]) -> list[tuple[str, int]]:
    process.send_signal(signal.SIGTERM)
    messages: list[tuple[str, int]] = []
    deadline = time.monotonic() + 30
    while not any(text.startswith("STOPPING=1") for text, _ in messages):
        message = _receive(sock, deadline)
        if message is None:
            break
        messages.append(message)
    assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""
    return messages


def test_daemon_ready_watchdog_stopping(notify_socket: tuple[socket.socket, str], tmp_path: Path) -> None:
    sock, path = notify_socket
    process = _start(path, tmp_path / "state", "$$")
    try:
        messages = _collect(sock, process, seconds_after_ready=1.0)
        stopping = _stop(sock, process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    texts = [text for text, _ in messages]
    ready = next(i for i, text in enumerate(texts) if text.startswith("READY=1"))
    assert any(text.startswith("STATUS=") for text in texts[:ready]), "no STATUS while starting"
    assert "STATUS=listening on http://127.0.0.1:" in texts[ready]
    pings = texts[ready + 1:].count("WATCHDOG=1")
    assert 3 <= pings <= 12, texts  # one second at a 0.2 s interval
    assert "WATCHDOG=1" not in texts[:ready]
    assert any(text.startswith("STOPPING=1") for text, _ in stopping)
    # Every message came from the main process (the PID the wrapper exec'd into).
    assert {pid for _, pid in messages + stopping} == {process.pid}


def test_daemon_does_not_ping_for_another_watchdog_pid(notify_socket: tuple[socket.socket, str],
                                                       tmp_path: Path) -> None:
    sock, path = notify_socket
    process = _start(path, tmp_path / "state", "1")
    try:
        messages = _collect(sock, process, seconds_after_ready=0.7)
        _stop(sock, process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    texts = [text for text, _ in messages]
    assert any(text.startswith("READY=1") for text in texts)
    assert "WATCHDOG=1" not in texts
