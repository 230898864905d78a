"""HTTP throughput: receipts per second and latency of ``POST /api/v1/check/sell`` on the embedded simulator.

The daemon runs as its own process (``kkm-bridge serve --config``, one ``sim://`` cashbox, no pacing: the
simulator answers as fast as it can) and this process loads it over loopback with ``concurrency`` clients,
each sending one synchronous sale after another. Every sale is validated, journalled (SQLite, WAL,
synchronous=FULL: the accepted record is made durable by the job's claim, which also records the device's
pre-flight facts, and the result by the next job's claim or its own commit), sent to the simulator byte by byte
through the ATOL driver, and read back from its fiscal memory. The simulator's fiscal memory is a state file
whose every document is fsync'd before the device's reply leaves it (off the daemon's event loop). So each
receipt waits for two fsyncs in series (the journal's and the simulated device's): on a disk with slow or
uneven fsyncs (a shared VM) that, not the CPU, sets the pace and the spread between runs.

Beside it, a *baseline*: a bare aiohttp handler (also its own process) that parses the same JSON and does one
durable SQLite insert (WAL, synchronous=FULL) per request: the floor of "an HTTP service that durably records
a request". The ratio says what everything else costs (auth, validation, the device round trips, the
journal's several transactions per job).

Memory: the daemon's RSS (``/proc/PID/status``) after 1,000 and after 10,000 receipts, with the embedded
simulator as the daemon runs it by default: its fiscal memory in a state file in the state directory (what
a config without ``[devices.simulator] state`` and the no-config demo get). The simulator keeps documents in
that SQLite file, not in RAM, and bounds its printed tape, so its share of the growth is small.
``--embedded-state ram`` measures the RAM-only simulator (``state = ""``: an in-memory SQLite database,
which grows by the stored documents themselves, a few hundred bytes each) instead. The same growth
measurement is repeated with the simulator in its own process (``kkm-bridge simulate --tcp``): that second
figure is what the daemon itself holds on to.

Run: ``python bench/http.py`` (full: 10,000 receipts) or ``python bench/http.py --quick`` (a few hundred,
for a smoke check). Prints a table, then one JSON object on the last line.
Targets: >= 200 receipts/s at concurrency 8; RSS growth < 20 MB between the two points.
"""

from __future__ import annotations

import os
import sys

# This file is called http.py: run as a script, its folder would shadow the standard library's `http`
# package (which aiohttp imports). Drop the folder from the path before importing anything else.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kkm_bridge.config import hash_key  # noqa: E402

KEY = "bench-key-" + "b" * 24
CONCURRENCY = (1, 8, 64)
BODY = {
    "items": [
        {"name": "Молоко 2.5%", "quantity": 1, "price": "450.00", "vat_rate": 16, "measurement": "pcs"},
        {"name": "Хлеб", "quantity": 2, "price": 180, "vat_rate": 16, "measurement": "pcs"},
        {"name": "Яблоки", "quantity": "1.25", "price": "900.00", "vat_rate": "none", "measurement": "kg"},
    ],
    "total_sum": "1935.00",
    "payment_type": "card",
    "client": {"bin_iin": "Not specified"},
}
PAYLOAD = json.dumps(BODY).encode()
#: The same sale for the simulator process, which is programmed with its default (20/10/0/none) tax table.
PAYLOAD_TCP = json.dumps({**BODY, "items": [{**item, "vat_rate": 10 if item["vat_rate"] == 16 else item["vat_rate"]}
                                             for item in BODY["items"]]}).encode()

BASELINE_SERVER = textwrap.dedent(
    """
    import json, sqlite3, sys, uuid
    from decimal import Decimal
    from aiohttp import web

    db = sqlite3.connect(sys.argv[1], isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, body TEXT NOT NULL)")

    async def sell(request):
        body = json.loads(await request.read(), parse_float=Decimal)
        job_id = uuid.uuid4().hex
        db.execute("INSERT INTO jobs (id, body) VALUES (?, ?)", (job_id, json.dumps(body, default=str)))
        return web.json_response({"success": True, "fiscal_check_id": job_id})

    app = web.Application()
    app.router.add_post("/api/v1/check/sell", sell)

    async def main():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"listening on http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", flush=True)
        import asyncio
        await asyncio.Event().wait()

    import asyncio
    asyncio.run(main())
    """
)


def _start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"{args[:4]} exited with {process.wait()}")
        if line.startswith("listening on "):
            return process, line.split("listening on ", 1)[1].strip()


#: The embedded simulator with its default state file (``<state_dir>/simulator-sim1.sqlite3``).
EMBEDDED = """
    [[devices]]
    id = "sim1"
    uri = "sim://bench"
    fiscal_id = "FL2026000001"
"""
#: The same, RAM only (``--embedded-state ram``).
EMBEDDED_RAM = EMBEDDED + """
    [devices.simulator]
    state = ""
"""


def tcp_device(address: str) -> str:
    """A cashbox on a simulator process (``kkm-bridge simulate --tcp``), programmed with its default tax table."""
    return f"""
    [[devices]]
    id = "tcp1"
    uri = "tcp://{address}"
    fiscal_id = "FL2026000002"
    [devices.tax_table]
    1 = "20"
    2 = "10"
    3 = "0"
    4 = "none"
"""


def start_daemon(directory: Path, device: str) -> tuple[subprocess.Popen[str], str]:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "bench.toml"
    config.write_text(textwrap.dedent(f"""
        listen = "127.0.0.1:0"
        state_dir = "{directory / 'state'}"
        [[api_keys]]
        name = "bench"
        sha256 = "{hash_key(KEY)}"
        [limits]
        queue_size = 1000
        rate_per_second = 1000000
        burst = 1000000
    """) + textwrap.dedent(device))
    return _start([sys.executable, "-m", "kkm_bridge", "serve", "--config", str(config), "--log-level", "warning"])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def load(session: aiohttp.ClientSession, url: str, headers: dict[str, str], count: int,
               concurrency: int, payload: bytes = PAYLOAD) -> tuple[float, list[float]]:
    """``count`` sales from ``concurrency`` clients; (receipts per second, latencies in ms)."""
    latencies: list[float] = []
    remaining = [count]

    async def client() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            started = time.perf_counter()
            async with session.post(url, data=payload, headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return count / (time.perf_counter() - started), latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def login(session: aiohttp.ClientSession, url: str) -> dict[str, str]:
    async with session.post(f"{url}/api/v1/auth/login", headers={"Authorization": f"ApiKey {KEY}"}) as response:
        token = (await response.json())["access_token"]
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def rss_points(session: aiohttp.ClientSession, url: str, headers: dict[str, str], pid: int, sold: int,
                     total: int, payload: bytes = PAYLOAD) -> dict[str, float]:
    """Sell (concurrency 8) up to ``total // 10`` and ``total`` receipts; the daemon's RSS at each point."""
    memory: dict[str, float] = {}
    for point in (total // 10, total):
        if sold < point:
            await load(session, f"{url}/api/v1/check/sell", headers, point - sold, 8, payload)
            sold = point
        memory[str(point)] = round(rss_mb(pid), 1)
    return memory


async def run(per_level: int, total: int, embedded_state: str = "file") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kkm-bench-") as tmp:
        directory = Path(tmp)
        device = EMBEDDED if embedded_state == "file" else EMBEDDED_RAM
        daemon, daemon_url = start_daemon(directory / "embedded", device)
        baseline, baseline_url = _start([sys.executable, "-c", BASELINE_SERVER, str(directory / "baseline.sqlite3")])
        processes = [daemon, baseline]
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                headers = await login(session, daemon_url)
                plain = {"Content-Type": "application/json"}
                await load(session, f"{daemon_url}/api/v1/check/sell", headers, 20, 1)  # warm up, open the shift
                await load(session, f"{baseline_url}/api/v1/check/sell", plain, 20, 1)
                sold = 20
                results: dict[str, Any] = {}
                for concurrency in CONCURRENCY:
                    rate, latencies = await load(session, f"{daemon_url}/api/v1/check/sell", headers, per_level,
                                                 concurrency)
                    base_rate, _ = await load(session, f"{baseline_url}/api/v1/check/sell", plain, per_level,
                                              concurrency)
                    sold += per_level
                    results[f"c{concurrency}"] = {
                        "receipts_per_s": round(rate, 1),
                        "p50_ms": round(statistics.median(latencies), 2),
                        "p99_ms": round(percentile(latencies, 0.99), 2),
                        "baseline_per_s": round(base_rate, 1),
                        "ratio": round(rate / base_rate, 3),
                    }
                results["rss_mb"] = await rss_points(session, daemon_url, headers, daemon.pid, sold, total)
                results["embedded_state"] = embedded_state
                for process in (daemon, baseline):
                    process.terminate()
                    process.wait(60)

                # The same growth measurement with the simulator in its own process (TCP): what the daemon
                # itself keeps, without the simulator's fiscal memory and printed tape in its address space.
                simulator, address = _start_simulator()
                processes.append(simulator)
                alone, alone_url = start_daemon(directory / "tcp", tcp_device(address))
                processes.append(alone)
                headers = await login(session, alone_url)
                results["rss_mb_simulator_apart"] = await rss_points(
                    session, alone_url, headers, alone.pid, 0, total, PAYLOAD_TCP)
                return results
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
                    process.wait(60)


def _start_simulator() -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "kkm_bridge", "simulate", "--tcp", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator exited with {process.wait()}")
        if line.startswith("tcp: "):
            return process, line.split("tcp: ", 1)[1].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-level", type=int, default=1000, help="sales per concurrency level")
    parser.add_argument("--total", type=int, default=10_000, help="receipts at the second RSS point")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 per level, 1,000 in total")
    parser.add_argument("--embedded-state", choices=("file", "ram"), default="file",
                        help="the embedded simulator's fiscal memory: its default state file (default) or RAM only")
    args = parser.parse_args()
    if args.quick:
        args.per_level, args.total = 200, 1000
    results = asyncio.run(run(args.per_level, args.total, args.embedded_state))
    print(f"{'concurrency':>11} {'receipts/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'baseline/s':>11} {'ratio':>7}")
    for concurrency in CONCURRENCY:
        row = results[f"c{concurrency}"]
        print(f"{concurrency:>11} {row['receipts_per_s']:>11.1f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['baseline_per_s']:>11.1f} {row['ratio']:>7.3f}")
    state = "state file, the default" if args.embedded_state == "file" else "RAM only"
    for key, label in (("rss_mb", f"daemon RSS, embedded simulator ({state})"),
                       ("rss_mb_simulator_apart", "daemon RSS, simulator in its own process")):
        points = list(results[key].items())
        print(f"{label}: " + ", ".join(f"{mb:.1f} MB after {int(n):,} receipts" for n, mb in points)
              + f" (growth {points[-1][1] - points[0][1]:.1f} MB)")
    print("targets: >= 200 receipts/s at concurrency 8; RSS growth < 20 MB")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
