"""Real processes for the end-to-end tests: the simulator on a pty (``kkm-bridge simulate --pty``), the daemon
(``kkm-bridge serve --config``) talking to it over the serial transport, and a plain HTTP client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kkm_bridge.config import hash_key

API_KEY = "e2e-key-" + "k" * 24
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NOTIFY_SOCKET", None)
    return env


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 30.0) -> list[str]:
    """Lines of stdout up to and including the first one containing ``marker``."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"process exited ({process.poll()}) before printing {marker!r}: {lines}")
        lines.append(line.strip())
        if marker in line:
            return lines
    raise TimeoutError(f"no {marker!r} within {timeout} s: {lines}")


@dataclass
class SimulatorProcess:
    state: Path
    process: subprocess.Popen[str]
    pty: str

    @classmethod
    def start(cls, state: Path, *extra: str) -> SimulatorProcess:
        process = subprocess.Popen(
            [sys.executable, "-m", "kkm_bridge", "simulate", "--pty", "--state", str(state), "--sign-key-seed", "5",
             *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(), cwd=ROOT,
        )
        lines = _read_until(process, "ready")
        [pty] = [line.split(": ", 1)[1] for line in lines if line.startswith("pty: ")]
        return cls(state, process, pty)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(15)

    def documents(self) -> list[dict[str, Any]]:
        """The fiscal memory, as ``kkm-bridge simulate --dump`` prints it."""
        out = subprocess.run(
            [sys.executable, "-m", "kkm_bridge", "simulate", "--dump", "--state", str(self.state)],
            capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60, check=True,
        )
        documents: list[dict[str, Any]] = json.loads(out.stdout)["documents"]
        return documents

    def receipts(self) -> list[dict[str, Any]]:
        return [d for d in self.documents() if d["kind"] == "receipt"] if self.state.exists() else []


def write_config(directory: Path, pty: str) -> Path:
    """A daemon config for one cashbox on the simulator's pty. The simulator is programmed with its default
    tax table (20, 10, 0, none...), so the device's table says so; Kazakh sales use 10 %, 0 or no VAT."""
    path = directory / "config.toml"
    path.write_text(
        f"""
listen = "127.0.0.1:0"
state_dir = "{directory / 'state'}"

[[api_keys]]
name = "e2e"
sha256 = "{hash_key(API_KEY)}"

[limits]
sync_timeout = 30

[[devices]]
id = "till1"
uri = "serial://{pty}?baudrate=115200"
fiscal_id = "FL2026000009"
country = "KZ"
[devices.registration]
registration_number = "032600010282"
factory_number = "SWK00033717"
[devices.tax_table]
1 = "20"
2 = "10"
3 = "0"
4 = "none"
""",
        encoding="utf-8",
    )
    return path


@dataclass
class DaemonProcess:
    config: Path
    process: subprocess.Popen[str]
    url: str
    token: str = field(default="")

    @classmethod
    def start(cls, config: Path) -> DaemonProcess:
        process = subprocess.Popen(
            [sys.executable, "-m", "kkm_bridge", "serve", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(), cwd=ROOT,
        )
        lines = _read_until(process, "listening on")
        url = lines[-1].split("listening on ", 1)[1]
        daemon = cls(config, process, url)
        status, body = daemon.call("POST", "/api/v1/auth/login", auth=f"ApiKey {API_KEY}")
        assert status == 200, body
        daemon.token = body["access_token"]
        return daemon

    def call(self, method: str, path: str, body: Any = None, *, auth: str | None = None,
             headers: dict[str, str] | None = None, timeout: float = 60.0) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", auth or f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def wait_status(self, check_id: str, states: tuple[str, ...], timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.call("GET", f"/api/v1/check/{check_id}")
            assert status == 200, body
            if body["status"] in states:
                return dict(body)
            time.sleep(0.02)
        raise TimeoutError(f"check {check_id} never reached {states}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(15)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()


def sale(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "items": [{"name": "Чай", "quantity": 2, "price": "450.00", "vat_rate": 10, "measurement": "pcs"},
                  {"name": "Сахар", "quantity": "0.5", "price": 800, "vat_rate": "none", "measurement": "kg"}],
        "total_sum": "1300.00",
        "payment_type": "card",
    }
    body.update(extra)
    return body
