"""The simulator over real transports: a pty opened with pyserial, and TCP on 127.0.0.1.

Both in-process (servers on a background thread) and as a separate process started the way a user
starts it (`python -m kkm_bridge simulate ...`), which also checks that state survives a new process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from sim_testutil import ITEMS, ITEMS_TOTAL

from protocols.atol import commands as cmd
from protocols.atol.v3_buffer import AddFlags, TaskState
from simulators.atol import DeviceConfig, Simulator
from simulators.atol.servers import serve_in_thread
from simulators.atol.testing import HostCodec, reply_of

TIMEOUT = 5.0


class StreamHost:
    """A blocking v3 host over any byte stream (`send(bytes)`, `recv() -> bytes`)."""

    def __init__(self, send: Any, recv: Any) -> None:
        self.send = send
        self.recv = recv
        self.codec = HostCodec()
        self.pending: list[Any] = []

    def _read_statuses(self, count: int) -> list[Any]:
        deadline = time.monotonic() + TIMEOUT
        while len(self.pending) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer (have {self.pending})")
            data = self.recv()
            if data:
                self.pending += self.codec.frames(data)
        out, self.pending = self.pending[:count], self.pending[count:]
        return out

    def call(self, request: Any, flags: int = AddFlags.NONE) -> Any:
        frame, pid, tid = self.codec.add_frame(request, flags=flags)
        self.send(frame)
        if flags & AddFlags.NEED_RESULT:
            accepted, result = self._read_statuses(2)
            assert accepted.packet_id == pid and accepted.data[:1] == b"\xa1"
            assert result.packet_id == 0xF0
            frame_with_result = result
        else:
            (frame_with_result,) = self._read_statuses(1)
            assert frame_with_result.packet_id == pid
        from protocols.atol.v3_buffer import decode_device

        status = decode_device(frame_with_result.data)
        assert status.state in (TaskState.RESULT, TaskState.ERROR, TaskState.ASYNC_RESULT, TaskState.ASYNC_ERROR)
        self.send(self.codec.ack_frame(tid))
        self._read_statuses(1)
        return reply_of(request, status)


def full_sale(host: StreamHost, flags: int = AddFlags.NONE) -> None:
    assert host.call(cmd.EnterMode(1, 30), flags) == cmd.Ok()
    assert host.call(cmd.OpenShift(), flags) == cmd.Ok()
    assert host.call(cmd.OpenReceipt(0, 1), flags) == cmd.Ok()
    for item in ITEMS:
        assert host.call(cmd.RegisterItem(2, item.name, item.price, item.quantity, tax=item.tax), flags) == cmd.Ok()
    assert host.call(cmd.Payment(0, cmd.PayType.ELECTRONIC, 50000), flags) == cmd.PaymentReply(ITEMS_TOTAL - 50000, 0)
    assert host.call(cmd.Payment(0, cmd.PayType.CASH, 50000), flags) == cmd.PaymentReply(0, 100000 - ITEMS_TOTAL)
    assert host.call(cmd.CloseReceipt(0, 1, 0), flags) == cmd.Ok()
    assert host.call(cmd.LeaveMode(), flags) == cmd.Ok()


def serial_host(path: str) -> tuple[StreamHost, serial.Serial]:
    port = serial.Serial(path, 115200, timeout=0.05)
    return StreamHost(port.write, lambda: port.read(4096)), port


def tcp_host(address: tuple[str, int]) -> tuple[StreamHost, socket.socket]:
    sock = socket.create_connection(address, timeout=TIMEOUT)
    sock.settimeout(0.05)

    def recv() -> bytes:
        try:
            data = sock.recv(4096)
        except socket.timeout:
            return b""
        if not data:
            raise ConnectionError("closed")
        return data

    return StreamHost(sock.sendall, recv), sock


def test_pty_in_process_with_pyserial() -> None:
    sim = Simulator(DeviceConfig())
    with serve_in_thread(sim, pty=True) as servers:
        assert servers.pty_path and servers.pty_path.startswith("/dev/")
        host, port = serial_host(servers.pty_path)
        try:
            full_sale(host)
            state = host.call(cmd.DeviceState())
            assert state.interface == 1 and state.receipt_number == 1
        finally:
            port.close()
        # The pty survives the client closing it; a second client works.
        host, port = serial_host(servers.pty_path)
        try:
            assert host.call(cmd.ShortState()) == cmd.ShortStateReply()
        finally:
            port.close()
    receipts = [d for d in sim.documents if d.kind == "receipt"]
    assert len(receipts) == 1 and receipts[0].total == ITEMS_TOTAL


def test_tcp_in_process_with_async_results() -> None:
    sim = Simulator(DeviceConfig())
    with serve_in_thread(sim, tcp=("127.0.0.1", 0)) as servers:
        host, sock = tcp_host(servers.tcp_address)
        try:
            full_sale(host, AddFlags.NEED_RESULT)
            assert host.call(cmd.DeviceState()).interface == 6
        finally:
            sock.close()
    assert [d.kind for d in sim.documents] == ["shift_open", "receipt"]


def test_tcp_disconnect_fault_closes_the_connection() -> None:
    sim = Simulator(DeviceConfig())
    sim.faults.disconnect_next(command=0x45, seconds=0.0)
    with serve_in_thread(sim, tcp=("127.0.0.1", 0)) as servers:
        host, sock = tcp_host(servers.tcp_address)
        frame, _, tid = host.codec.add_frame(cmd.ShortState())
        sock.sendall(frame)
        received = b""
        with pytest.raises(ConnectionError):
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                received += host.recv()
        assert received and host.codec.frames(received) == []  # half a frame
        sock.close()
        # Reconnect: the task's result is still in the buffer.
        host, sock = tcp_host(servers.tcp_address)
        try:
            sock.sendall(host.codec.req_frame(tid))
            (frame,) = host._read_statuses(1)
            from protocols.atol.v3_buffer import decode_device

            assert decode_device(frame.data).state == TaskState.RESULT
        finally:
            sock.close()


def test_stall_fault_over_tcp_releases_the_reply_later() -> None:
    sim = Simulator(DeviceConfig())
    sim.faults.stall_next(seconds=0.3)
    with serve_in_thread(sim, tcp=("127.0.0.1", 0)) as servers:
        host, sock = tcp_host(servers.tcp_address)
        try:
            assert host.call(cmd.ShortState()) == cmd.ShortStateReply()
        finally:
            sock.close()
    assert sim.faults.triggered == ["stall cmd=45"]


# -- as a separate process ---------------------------------------------------------------------------


def start_cli(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kkm_bridge", "simulate", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    info: dict[str, str] = {}
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"simulator exited: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}")
        line = line.strip()
        if line == "ready":
            return proc, info
        key, _, value = line.partition(": ")
        info[key] = value


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
        proc.wait()


@pytest.fixture
def state_file(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "sim-state.db"


def test_cli_pty_raw_exchange_and_restart(state_file: Path) -> None:
    proc, info = start_cli("--pty", "--state", str(state_file), "--model", "32")
    try:
        assert os.path.exists(info["pty"])
        host, port = serial_host(info["pty"])
        try:
            full_sale(host)
        finally:
            port.close()
    finally:
        stop(proc)
    assert proc.returncode == 0
    # A new process on the same state file continues the same fiscal memory.
    proc, info = start_cli("--tcp", "127.0.0.1:0", "--state", str(state_file))
    try:
        host_name, port_text = info["tcp"].rsplit(":", 1)
        host, sock = tcp_host((host_name, int(port_text)))
        try:
            state = host.call(cmd.DeviceState())
            assert state.shift_open and state.receipt_number == 1
            assert host.call(cmd.EnterMode(1, 30)) == cmd.Ok()
            assert host.call(cmd.CashIn(0, 777)) == cmd.Ok()
        finally:
            sock.close()
    finally:
        stop(proc)
    dump = subprocess.run([sys.executable, "-m", "kkm_bridge", "simulate", "--state", str(state_file), "--dump"],
                          capture_output=True, text=True, timeout=30)
    assert dump.returncode == 0
    data = json.loads(dump.stdout)
    kinds = [d["kind"] for d in data["documents"]]
    assert kinds == ["shift_open", "receipt", "cash_in"]
    receipt = data["documents"][1]
    assert receipt["total"] == ITEMS_TOTAL and len(receipt["lines"]) == 3
    assert [p["type"] for p in receipt["payments"]] == [1, 2]


def test_cli_fault_flag_power_cut(state_file: Path, tmp_path: Path) -> None:
    tape_dir = tmp_path / "tape"
    proc, info = start_cli("--tcp", "0", "--state", str(state_file), "--tape-dir", str(tape_dir),
                           "--fault", "power-cut:after_close_receipt_before_reply")
    try:
        host_name, port_text = info["tcp"].rsplit(":", 1)
        host, sock = tcp_host((host_name, int(port_text)))
        try:
            assert host.call(cmd.EnterMode(1, 30)) == cmd.Ok()
            assert host.call(cmd.OpenReceipt(0, 1)) == cmd.Ok()
            assert host.call(cmd.RegisterItem(2, "Хлеб", 15000, 1000, tax=1)) == cmd.Ok()
            frame, _, tid = host.codec.add_frame(cmd.CloseReceipt(0, 1, 0))
            sock.sendall(frame)
            time.sleep(0.3)
            assert host.recv() == b""  # no reply: the power went off
            sock.sendall(host.codec.req_frame(tid))
            (answer,) = host._read_statuses(1)
            assert answer.data == b"\xb3"  # the buffer was lost with the power
            assert host.call(cmd.DeviceState()).receipt_number == 1  # ...but the receipt was closed
        finally:
            sock.close()
    finally:
        stop(proc)
    from simulators.atol import FiscalMemory

    assert [d.kind for d in FiscalMemory(state_file).documents] == ["shift_open", "receipt"]
    names = sorted(p.name for p in tape_dir.iterdir())
    assert "00002-receipt.txt" in names and "00002-receipt.png" in names and "00002-receipt.html" in names
    assert "ФИСКАЛЬНЫЙ ЧЕК" in (tape_dir / "00002-receipt.txt").read_text(encoding="utf-8")


def test_cli_dump_needs_a_state_file(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "kkm_bridge", "simulate", "--dump", "--state",
                          str(tmp_path / "missing.db")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--state" in out.stderr


def test_readme_raw_byte_exchange_over_the_cli_pty() -> None:
    """The exact bytes of simulators/README.md, from another process's point of view."""
    proc, info = start_cli("--pty")
    try:
        port = serial.Serial(info["pty"], 115200, timeout=0.1)
        try:
            port.write(bytes.fromhex("FE 06 00 02 C1 01 01 00 00 3F ED"))
            data = b""
            deadline = time.monotonic() + TIMEOUT
            while len(data) < 6 + 37 and time.monotonic() < deadline:
                data += port.read(4096)
            assert data.startswith(bytes.fromhex("fe 01 00 02 a1 95"))
            assert data[6:].startswith(bytes.fromhex("fe 20 00 f0 a6 01 44"))
            port.write(bytes.fromhex("FE 02 00 04 C2 01 20"))
            data = b""
            deadline = time.monotonic() + TIMEOUT
            while len(data) < 6 and time.monotonic() < deadline:
                data += port.read(4096)
            assert data == bytes.fromhex("fe 01 00 04 a3 ad")
        finally:
            port.close()
    finally:
        stop(proc)


def test_sigkill_mid_traffic_never_loses_an_acknowledged_receipt(state_file: Path) -> None:
    """A real crash (SIGKILL) while receipts are being closed: every receipt whose reply reached the
    host is in the fiscal memory afterwards, and the stored state is consistent with the documents."""
    proc, info = start_cli("--tcp", "0", "--state", str(state_file))
    acknowledged = 0
    try:
        host_name, port_text = info["tcp"].rsplit(":", 1)
        host, sock = tcp_host((host_name, int(port_text)))
        assert host.call(cmd.EnterMode(1, 30)) == cmd.Ok()
        for _ in range(8):
            assert host.call(cmd.OpenReceipt(0, 1)) == cmd.Ok()
            assert host.call(cmd.RegisterItem(2, "Хлеб", 15000, 1000, tax=1)) == cmd.Ok()
            assert host.call(cmd.CloseReceipt(0, 1, 0)) == cmd.Ok()
            acknowledged += 1
        # Fire one more close and kill the process without waiting for anything.
        assert host.call(cmd.OpenReceipt(0, 1)) == cmd.Ok()
        assert host.call(cmd.RegisterItem(2, "Хлеб", 15000, 1000, tax=1)) == cmd.Ok()
        frame, _, _ = host.codec.add_frame(cmd.CloseReceipt(0, 1, 0))
        sock.sendall(frame)
        proc.kill()
        proc.wait(timeout=10)
        sock.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    from simulators.atol import FiscalMemory

    memory = FiscalMemory(state_file)
    receipts = [d for d in memory.documents if d.kind == "receipt"]
    assert acknowledged <= len(receipts) <= acknowledged + 1
    assert [d.number for d in memory.documents] == list(range(1, len(memory.documents) + 1))
    assert memory.device is not None and memory.device["last_document_number"] == memory.documents[-1].number
    assert memory.device["receipt_number"] == len(receipts)


def test_tcp_with_pacing_and_processing_time() -> None:
    """Timing emulation on: the exchange still works (durations are not asserted)."""
    from simulators.atol import WireTiming

    sim = Simulator(DeviceConfig(), timing=WireTiming(baud=115200, command_seconds=0.005, line_seconds=0.0005))
    with serve_in_thread(sim, tcp=("127.0.0.1", 0)) as servers:
        host, sock = tcp_host(servers.tcp_address)
        try:
            full_sale(host, AddFlags.NEED_RESULT)
        finally:
            sock.close()
    assert [d.kind for d in sim.documents] == ["shift_open", "receipt"]


def test_cli_short_shift_expires_end_to_end() -> None:
    """--shift-hours lets another process see SHIFT_EXPIRED without waiting a day."""
    proc, info = start_cli("--tcp", "0", "--shift-hours", "0.0002")  # 0.72 s
    try:
        host_name, port_text = info["tcp"].rsplit(":", 1)
        host, sock = tcp_host((host_name, int(port_text)))
        try:
            assert host.call(cmd.EnterMode(1, 30)) == cmd.Ok()
            assert host.call(cmd.OpenShift()) == cmd.Ok()
            reply = cmd.Ok()
            deadline = time.monotonic() + TIMEOUT
            while reply == cmd.Ok() and time.monotonic() < deadline:
                reply = host.call(cmd.CashIn(0, 100))
                time.sleep(0.1)
            assert reply == cmd.ErrorReply(0x88)
        finally:
            sock.close()
    finally:
        stop(proc)


def test_cli_render_reprints_a_stored_document(tmp_path: Path) -> None:
    from simulators.atol.testing import InProcessHost

    path = tmp_path / "state.db"
    sim = Simulator(DeviceConfig(), state_path=path)
    host = InProcessHost(sim)
    host.call(cmd.EnterMode(1, 30))
    host.call(cmd.OpenReceipt(0, 1))
    host.call(cmd.RegisterItem(2, "Хлеб", 15000, 1000, tax=1))
    host.call(cmd.CloseReceipt(0, 1, 0))
    sim.close()
    base = [sys.executable, "-m", "kkm_bridge", "simulate", "--state", str(path), "--render", "2"]
    text = subprocess.run(base + ["--model", "32"], capture_output=True, text=True, timeout=30)
    assert text.returncode == 0
    assert "ФИСКАЛЬНЫЙ ЧЕК" in text.stdout and sim.documents[-1].fiscal_sign in text.stdout
    assert all(len(line) <= 32 for line in text.stdout.splitlines())
    png = tmp_path / "r.png"
    out = subprocess.run(base + ["--render-format", "png", "--output", str(png)], capture_output=True, timeout=30)
    assert out.returncode == 0 and png.read_bytes().startswith(b"\x89PNG")
    missing = subprocess.run(base[:-1] + ["99"], capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1


def test_cli_signals_toggle_paper_and_cover() -> None:
    proc, info = start_cli("--tcp", "0")
    try:
        host_name, port_text = info["tcp"].rsplit(":", 1)
        host, sock = tcp_host((host_name, int(port_text)))
        try:
            assert host.call(cmd.ShortState()) == cmd.ShortStateReply()
            proc.send_signal(signal.SIGUSR1)
            assert proc.stderr is not None and proc.stderr.readline().strip() == "paper: out"
            assert host.call(cmd.ShortState()).no_paper
            proc.send_signal(signal.SIGUSR2)
            assert proc.stderr.readline().strip() == "cover: open"
            assert host.call(cmd.DeviceState()).cover_open
        finally:
            sock.close()
    finally:
        stop(proc)


def test_busy_device_over_tcp_pushes_results_when_done() -> None:
    from simulators.atol import WireTiming

    sim = Simulator(DeviceConfig(), timing=WireTiming(command_seconds=0.01, line_seconds=0.0005, busy_device=True))
    with serve_in_thread(sim, tcp=("127.0.0.1", 0)) as servers:
        host, sock = tcp_host(servers.tcp_address)
        try:
            full_sale(host, AddFlags.NEED_RESULT)
        finally:
            sock.close()
    assert [d.kind for d in sim.documents] == ["shift_open", "receipt"]


@pytest.mark.parametrize("args", [["--fault", "explode"], ["--fault", "power-cut:nowhere"], ["--tcp", "host:port"]])
def test_cli_rejects_bad_options(args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "kkm_bridge", "simulate", *args],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "kkm-bridge simulate:" in out.stderr
