"""A tiny client for the systemd notification protocol (sd_notify), with no dependencies.

Under a unit with ``Type=notify`` systemd passes the path of a datagram socket in
``$NOTIFY_SOCKET``; the service reports its state by sending newline-separated ``KEY=VALUE``
assignments to it: ``READY=1`` once it accepts requests, ``STOPPING=1`` when shutting down,
``STATUS=...`` as a one-line human-readable status (``systemctl status`` shows it), and
``WATCHDOG=1`` regularly when the unit sets ``WatchdogSec=``.

Everything here is a no-op when the process was not started by systemd (no ``$NOTIFY_SOCKET``),
and socket errors never raise: a failed notification is logged and reported as ``False``, because a
status message must never take the daemon down.

The daemon uses it like this::

    notify_status("connecting to devices")
    ...                                     # bind the listener, start the device workers
    notify_ready("listening on 127.0.0.1:8080")
    watchdog = asyncio.create_task(run_watchdog(stop_event))
    ...                                     # SIGTERM sets stop_event
    notify_stopping()
    await watchdog
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"


def notify_socket_address(environ: Mapping[str, str] | None = None) -> str | None:
    """The socket address to send to, or None when not running under systemd.

    A leading ``@`` names a socket in Linux's abstract namespace, written with a leading NUL
    byte on the wire. Other address families systemd may use (``vsock:...``) are not supported
    and count as "no socket".
    """
    env = os.environ if environ is None else environ
    address = env.get(NOTIFY_SOCKET_ENV, "")
    if address.startswith("@") and len(address) > 1:
        return "\0" + address[1:]
    if address.startswith("/"):
        return address
    if address:
        logger.debug("unsupported %s=%r; notifications disabled", NOTIFY_SOCKET_ENV, address)
    return None


def under_systemd(environ: Mapping[str, str] | None = None) -> bool:
    """True when systemd is listening for our notifications."""
    return notify_socket_address(environ) is not None


def _format(state: str | Mapping[str, str]) -> bytes:
    if isinstance(state, str):
        text = state
    else:
        lines = []
        for key, value in state.items():
            if not key or "=" in key or "\n" in key:
                raise ValueError(f"invalid notification key {key!r}")
            lines.append(f"{key}={_one_line(str(value))}")
        text = "\n".join(lines)
    return text.encode("utf-8")


def notify(state: str | Mapping[str, str], *, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification (``"READY=1"``, or ``{"READY": "1", "STATUS": "..."}``).

    Returns True if the datagram was sent, False when not under systemd or on any error.
    The send never blocks: a full receive queue counts as an error.
    """
    address = notify_socket_address(environ)
    if address is None:
        return False
    payload = _format(state)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(payload, socket.MSG_DONTWAIT, address)
    except OSError as exc:
        logger.warning("sd_notify to %r failed: %s", address.replace("\0", "@", 1), exc)
        return False
    return True


def _one_line(text: str) -> str:
    # STATUS= is a single line: newlines would start new (bogus) assignments.
    return " ".join(text.split())


def notify_ready(status: str | None = None) -> bool:
    """``READY=1``: startup finished, the service accepts requests (plus an optional STATUS)."""
    state = {"READY": "1"}
    if status:
        state["STATUS"] = status
    return notify(state)


def notify_stopping(status: str | None = None) -> bool:
    """``STOPPING=1``: shutdown has begun (plus an optional STATUS)."""
    state = {"STOPPING": "1"}
    if status:
        state["STATUS"] = status
    return notify(state)


def notify_status(text: str) -> bool:
    """``STATUS=...``: a one-line status for ``systemctl status``."""
    return notify({"STATUS": text})


def notify_watchdog() -> bool:
    """``WATCHDOG=1``: one keep-alive ping."""
    return notify("WATCHDOG=1")


def watchdog_interval(environ: Mapping[str, str] | None = None, *, pid: int | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings, or None when no watchdog is configured for us.

    systemd sets ``WATCHDOG_USEC`` (the unit's ``WatchdogSec=`` in microseconds) and
    ``WATCHDOG_PID`` (the process expected to ping). If ``WATCHDOG_PID`` is set and is not this
    process (a child that inherited the environment), there is no watchdog for us. Pinging at
    half the timeout, as systemd recommends, leaves room for one late ping.
    """
    env = os.environ if environ is None else environ
    usec_text = env.get(WATCHDOG_USEC_ENV)
    if not usec_text:
        return None
    try:
        usec = int(usec_text)
    except ValueError:
        logger.debug("ignoring malformed %s=%r", WATCHDOG_USEC_ENV, usec_text)
        return None
    if usec <= 0:
        return None
    pid_text = env.get(WATCHDOG_PID_ENV)
    if pid_text:
        try:
            watchdog_pid = int(pid_text)
        except ValueError:
            logger.debug("ignoring malformed %s=%r", WATCHDOG_PID_ENV, pid_text)
            return None
        if watchdog_pid != (os.getpid() if pid is None else pid):
            return None
    return usec / 2 / 1_000_000


def _is_healthy(healthy: Callable[[], bool] | None) -> bool:
    if healthy is None:
        return True
    try:
        ok = bool(healthy())
    except Exception:
        logger.exception("health check raised: skipping the systemd watchdog ping")
        return False
    if not ok:
        logger.warning("health check failed: skipping the systemd watchdog ping")
    return ok


async def run_watchdog(
    stop_event: asyncio.Event,
    *,
    interval: float | None = None,
    healthy: Callable[[], bool] | None = None,
) -> None:
    """Ping ``WATCHDOG=1`` every `interval` seconds until `stop_event` is set.

    `interval` defaults to :func:`watchdog_interval`; when that is None (no watchdog, or not
    under systemd) this returns at once. The first ping goes out immediately.

    Because the pings come from the event loop, a stuck loop (a blocking call, a deadlock) stops
    them and systemd restarts the service. `healthy`, if given, is asked before every ping; a
    False answer skips that ping, so a daemon that knows it is wedged can let systemd restart it.
    (Do not report an unplugged printer as unhealthy: a restart will not plug it back in.)
    """
    if interval is None:
        interval = watchdog_interval()
    if interval is None or not under_systemd():
        return
    if interval <= 0:
        raise ValueError(f"watchdog interval must be > 0, got {interval!r}")
    while not stop_event.is_set():
        if _is_healthy(healthy):
            notify_watchdog()
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
        except TimeoutError:
            pass
