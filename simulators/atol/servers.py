"""Ways to reach a `Simulator` from outside the process: TCP and a pseudo-terminal.

Both are asyncio servers around one `Simulator`; a lock serialises connections so the device sees one
command stream at a time, like a printer with one port. Output goes to the connection whose input
produced it (async F0 frames included). Wire emulation (`WireTiming`): each `Emission.delay` (per
command / per printed line processing time) is slept before its bytes, and with `baud` set the bytes
are written in small chunks paced at `bytes * 10 / baud` seconds. Both are off by default.

- TCP (`TcpServer`): default 127.0.0.1:5555, the port atol4j and libfptr use. A `disconnect` fault
  closes the client's connection after half a frame.
- PTY (`PtyServer`): `os.openpty()`, raw mode, the slave path (`/dev/pts/N`) is what a serial program
  opens, pyserial included. The server keeps its own slave descriptor open so the pty survives
  clients opening and closing it. A `disconnect` fault sends half a frame and then ignores the line
  for the fault's `seconds` (a pty cannot be unplugged without changing its path).

`serve_in_thread(sim, tcp=..., pty=...)` runs the servers on a background event loop, for tests and
for embedding the simulator in another program's test suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import tty
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import cast

from .dispatch import INTERFACE_ETHERNET, INTERFACE_RS232
from .simulator import Emission, Simulator

DEFAULT_TCP_HOST = "127.0.0.1"
DEFAULT_TCP_PORT = 5555
PACING_CHUNK = 16


class _Port:
    """Shared logic: feed input to the simulator under a lock, deliver output with timing."""

    def __init__(self, sim: Simulator, lock: asyncio.Lock) -> None:
        self.sim = sim
        self.lock = lock
        self._wake_task: asyncio.Task[None] | None = None

    async def handle_input(self, data: bytes, write: Callable[[bytes], Awaitable[None]]) -> bool:
        """Process `data`; returns True if the link must be dropped."""
        async with self.lock:
            emissions = self.sim.process(data)
            dropped = await self._deliver(emissions, write)
            self._schedule_wake(write)
        return dropped

    async def _deliver(self, emissions: list[Emission], write: Callable[[bytes], Awaitable[None]]) -> bool:
        timing = self.sim.timing
        for emission in emissions:
            if emission.delay > 0:
                await asyncio.sleep(emission.delay)
            if timing.baud:
                for start in range(0, len(emission.data), PACING_CHUNK):
                    chunk = emission.data[start : start + PACING_CHUNK]
                    await asyncio.sleep(timing.wire_seconds(len(chunk)))
                    await write(chunk)
            elif emission.data:
                await write(emission.data)
            if emission.disconnect:
                return True
        return False

    def _schedule_wake(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        """After a stall, release the held output even if the host sends nothing more."""
        due = self.sim.wake_at()
        if due is None or (self._wake_task is not None and not self._wake_task.done()):
            return

        async def wake() -> None:
            await asyncio.sleep(max(0.0, due - self.sim.monotonic()) + 0.001)
            await self.handle_input(b"", write)

        self._wake_task = asyncio.get_running_loop().create_task(wake())


class TcpServer:
    """The simulator on a TCP port."""

    def __init__(self, sim: Simulator, lock: asyncio.Lock | None = None) -> None:
        self.sim = sim
        self.lock = lock or asyncio.Lock()
        self.server: asyncio.base_events.Server | None = None
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str = DEFAULT_TCP_HOST, port: int = DEFAULT_TCP_PORT) -> tuple[str, int]:
        self.sim.dispatcher.interface = INTERFACE_ETHERNET
        self.server = await asyncio.start_server(self._client, host, port)
        address = self.server.sockets[0].getsockname()
        return address[0], address[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        async with self.lock:
            self.sim.link.reset_line()  # a new cable: no half frame from an earlier connection
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        port = _Port(self.sim, self.lock)

        async def write(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                if await port.handle_input(data, write):
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            if port._wake_task is not None:
                port._wake_task.cancel()
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self._writers):
                writer.close()
            if self._tasks:  # let each client coroutine see EOF and finish on its own
                await asyncio.wait(self._tasks, timeout=2)
            await self.server.wait_closed()


class PtyServer:
    """The simulator on a pseudo-terminal; `path` is the slave device to open."""

    def __init__(self, sim: Simulator, lock: asyncio.Lock | None = None) -> None:
        self.sim = sim
        self.lock = lock or asyncio.Lock()
        self.master = -1
        self.slave = -1
        self.path = ""
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def open(self) -> str:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        return self.path

    async def start(self) -> str:
        if self.master < 0:
            self.open()
        self.sim.dispatcher.interface = INTERFACE_RS232
        loop = asyncio.get_running_loop()
        loop.add_reader(self.master, self._readable)
        self._task = loop.create_task(self._pump())
        return self.path

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: no slave open; cannot happen while we hold ours, but do not spin
            return
        if data:
            self._queue.put_nowait(data)

    async def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.master, view)
                view = view[written:]
            except BlockingIOError:
                await asyncio.sleep(0.001)

    async def _pump(self) -> None:
        port = _Port(self.sim, self.lock)
        while True:
            data = await self._queue.get()
            await port.handle_input(data, self._write)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.master >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            os.close(self.slave)
            self.master = self.slave = -1


@dataclass
class RunningServers:
    """Handle of servers started by `serve_in_thread`."""

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    tcp_address: tuple[str, int] | None = None
    pty_path: str | None = None
    _stop: Callable[[], None] = field(default=lambda: None)

    def call(self, fn: Callable[[], object]) -> object:
        """Run `fn` on the server loop (safe access to the simulator while it serves)."""
        async def run() -> object:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def stop(self) -> None:
        self._stop()


async def start_servers(
    sim: Simulator, tcp: tuple[str, int] | None = None, pty: bool = False
) -> tuple[list[TcpServer | PtyServer], tuple[str, int] | None, str | None]:
    """Start the requested servers on the running loop; returns (servers, tcp address, pty path)."""
    lock = asyncio.Lock()
    servers: list[TcpServer | PtyServer] = []
    address = path = None
    if pty:
        pty_server = PtyServer(sim, lock)
        path = await pty_server.start()
        servers.append(pty_server)
    if tcp is not None:
        tcp_server = TcpServer(sim, lock)
        address = await tcp_server.start(*tcp)
        servers.append(tcp_server)
    return servers, address, path


@contextlib.contextmanager
def serve_in_thread(
    sim: Simulator, tcp: tuple[str, int] | None = None, pty: bool = False
) -> Iterator[RunningServers]:
    """Run TCP and/or PTY servers for `sim` on a background thread for the duration of a `with`."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    result: dict[str, object] = {}

    def main() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            try:
                result["servers"], result["tcp"], result["pty"] = await start_servers(sim, tcp, pty)
            except BaseException as exc:  # pragma: no cover - reported to the caller
                result["error"] = exc
            ready.set()

        loop.run_until_complete(boot())
        loop.run_forever()
        servers = cast("list[TcpServer | PtyServer]", result.get("servers") or [])
        for server in servers:
            loop.run_until_complete(server.close())
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=main, name="atol-sim-servers", daemon=True)
    thread.start()
    ready.wait(10)
    if "error" in result:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        raise result["error"]  # type: ignore[misc]

    def stop() -> None:
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(5)

    running = RunningServers(loop, thread, result.get("tcp"), result.get("pty"), stop)  # type: ignore[arg-type]
    try:
        yield running
    finally:
        stop()
