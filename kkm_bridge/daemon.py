"""The daemon's wiring: config -> journal -> devices -> workers -> HTTP app, and its life cycle.

Start: open the journal (state dir, 0600, WAL, synchronous=FULL), build one driver per configured device and
one worker each (the workers recover in-flight jobs as soon as their device answers), bind the listener,
then tell systemd READY (``kkm_bridge.service.notify``) and start the watchdog pings.

Stop (SIGTERM/SIGINT): refuse new jobs (503 ``shutting_down``), let each worker finish the job in flight,
close the listener and connections, close the devices and the journal, tell systemd STOPPING. A job that
was waiting in the queue stays ``accepted`` in the journal and runs after the next start (unless its
deadline passed: a synchronous caller is no longer waiting for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from protocols.atol.tax_table import TaxSlot

from kkm_bridge.config import Config, DeviceSettings
from kkm_bridge.driver.api import FiscalDevice
from kkm_bridge.http.app import create_app
from kkm_bridge.http.auth import Authenticator, load_secret
from kkm_bridge.http.services import Services
from kkm_bridge.journal import AsyncJournal
from kkm_bridge.model.tax import VatRate
from kkm_bridge.service.notify import notify_ready, notify_status, notify_stopping, run_watchdog
from kkm_bridge.workers.manager import DeviceManager
from kkm_bridge.workers.worker import WorkerConfig

__all__ = ["Daemon", "JsonLogFormatter", "configure_logging", "make_device", "run"]

log = logging.getLogger("kkm_bridge.daemon")

#: ``LogRecord`` attributes that are not extras.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extras (check_id, job_id,
    device_id, status...). Call sites never pass secrets (keys, tokens, Authorization) or request bodies."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                out[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def tax_table(settings: DeviceSettings) -> dict[int, TaxSlot]:
    """The device's tax slots as the driver (and the embedded simulator) read them."""
    table: dict[int, TaxSlot] = {}
    for index, code in settings.tax_slots.items():
        rate = VatRate.parse(code)
        table[index] = TaxSlot(index, rate.code, rate.percent)
    return table


def embedded_simulator(settings: DeviceSettings) -> str:
    """Make ``sim://NAME`` reach a simulator programmed like this device, and return that URI.

    A simulator already registered under the name (a test's, with its faults) is used as it is; otherwise
    one is created with the device's registration data, tax table and ``[devices.simulator]`` options
    (``state`` file, empty for RAM only; ``command_delay`` seconds per command).
    """
    from simulators.atol import DeviceConfig as SimConfig
    from simulators.atol import Simulator, WireTiming
    from simulators.atol.sim_transport import get_simulator, register_simulator

    name = settings.uri.split("://", 1)[1].split("?", 1)[0] or settings.id
    if get_simulator(name) is None:
        options = settings.simulator
        sim_config = SimConfig()
        registration = settings.registration
        for field_name in ("registration_number", "factory_number", "qr_url_base"):
            value = getattr(registration, field_name)
            if value:
                setattr(sim_config.registration, field_name, value)
        timing = WireTiming(command_seconds=float(options.get("command_delay", 0.0)))
        register_simulator(name, Simulator(sim_config, state_path=options.get("state") or None,
                                           tax_table=dict(tax_table(settings)), timing=timing))
    sync = settings.simulator.get("sync")  # "thread": the durability barrier for slow disks (sim_transport)
    return f"sim://{name}?sync={sync}" if sync else f"sim://{name}"


def make_device(settings: DeviceSettings) -> FiscalDevice:
    """The driver for one configured device (ATOL over the transport its URI names), not yet connected:
    the device's worker connects, with backoff, so a printer that is off does not stop the daemon."""
    from kkm_bridge.driver.factory import make_device as make_driver
    from kkm_bridge.driver.shift_policy import ShiftPolicy

    uri = embedded_simulator(settings) if settings.uri.startswith("sim:") else settings.uri
    policy = ShiftPolicy(auto_open=settings.shift.auto_open, auto_reopen=settings.shift.auto_close_expired)
    return make_driver(uri, shift_policy=policy, tax_table=tax_table(settings),
                       unsupported_text=settings.unsupported_text)


@dataclass
class Daemon:
    """A running daemon: services, the HTTP runner and the bound address."""

    services: Services
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    async def start(
        cls, config: Config, *, device_factory: Callable[[DeviceSettings], FiscalDevice] = make_device
    ) -> Daemon:
        notify_status("opening the journal")
        journal = await AsyncJournal.open(config.journal_path, inline_writes=config.journal_writes == "inline")
        try:
            auth = Authenticator(config.api_keys, load_secret(config.state_dir), config.limits.token_ttl)
            manager = DeviceManager(journal, config=WorkerConfig(queue_size=config.limits.queue_size))
            for settings in config.devices:
                manager.add(settings.id, device_factory(settings))
            services = Services.build(config, journal, manager, auth)
            notify_status("connecting to devices")
            await manager.start()
            runner = web.AppRunner(create_app(services), access_log=None, handle_signals=False,
                                   shutdown_timeout=5.0)
            await runner.setup()
            site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
            await site.start()
        except BaseException:
            await journal.close()
            raise
        server = site._server  # aiohttp exposes no public accessor for the bound sockets
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else config.port
        return cls(services, runner, config.host, port)

    async def stop(self) -> None:
        """Refuse new work, finish the job in flight, then close everything."""
        services = self.services
        services.stopping = True
        notify_stopping("finishing the job in flight")
        await services.manager.stop()
        await self.runner.cleanup()
        await services.journal.close()


async def serve(config: Config, *, on_ready: Callable[[Daemon], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    daemon = await Daemon.start(config)
    log.info("listening on %s", daemon.url, extra={"devices": len(config.devices)})
    if on_ready is not None:
        on_ready(daemon)
    notify_ready(f"listening on {daemon.url}")
    watchdog = asyncio.create_task(run_watchdog(stop))
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await daemon.stop()
        stop.set()
        with contextlib.suppress(Exception):
            await watchdog
        log.info("stopped")


def run(config: Config, on_ready: Callable[[Daemon], None] | None = None) -> None:
    asyncio.run(serve(config, on_ready=on_ready))
