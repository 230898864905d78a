"""`kkm-bridge serve` with no config at all: the demo cashbox on the embedded simulator, a development key in a
0600 file whose path (never the key) is printed, and the README's login-then-sell flow."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

from e2e_testutil import ROOT, _env, _read_until


def _post(url: str, auth: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST", headers={"Authorization": auth})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def test_serve_without_config(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "kkm_bridge", "serve", "--state-dir", str(tmp_path), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(), cwd=ROOT,
    )
    try:
        lines = _read_until(process, "listening on")
        [notice] = [line for line in lines if "development API key written to" in line]
        key_file = Path(notice.split("written to ", 1)[1].split(" (", 1)[0])
        assert key_file.parent == tmp_path and stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        key = key_file.read_text().strip()
        assert all(key not in line for line in lines)
        url = lines[-1].split("listening on ", 1)[1]

        token = _post(f"{url}/api/v1/auth/login", f"ApiKey {key}")["access_token"]
        sold = _post(f"{url}/api/v1/check/sell", f"Bearer {token}", {
            "items": [{"name": "Milk", "quantity": 1, "price": 500, "vat_rate": 16, "measurement": "pcs"}],
            "total_sum": 500, "payment_type": "cash"})
        assert sold["success"] is True and str(sold["fiscal_sign"]).isdigit()
        journal = tmp_path / "journal.sqlite3"
        assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    dump = subprocess.run([sys.executable, "-m", "kkm_bridge", "simulate", "--dump", "--state",
                           str(tmp_path / "simulator.sqlite3")], capture_output=True, text=True, env=_env(), cwd=ROOT,
                          timeout=60, check=True)
    documents = json.loads(dump.stdout)["documents"]
    assert [d["fiscal_sign"] for d in documents if d["kind"] == "receipt"] == [sold["fiscal_sign"]]


def test_hash_key_prints_the_sha256_for_the_config() -> None:
    out = subprocess.run([sys.executable, "-m", "kkm_bridge", "serve", "--hash-key"], input="my-key\n",
                         capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60, check=True)
    assert out.stdout.strip() == hashlib.sha256(b"my-key").hexdigest()
    assert "my-key" not in out.stdout
    made = subprocess.run([sys.executable, "-m", "kkm_bridge", "serve", "--hash-key"], input="",
                          capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60, check=True)
    fields = dict(line.split(":", 1) for line in made.stdout.splitlines())
    key, digest = fields["key"].strip(), fields["sha256"].strip()
    assert len(key) >= 40 and digest == hashlib.sha256(key.encode()).hexdigest()


def test_bad_config_is_reported_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[limits]\nqueue_size = 0\n', encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "kkm_bridge", "serve", "--config", str(config)],
                         capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=60)
    assert out.returncode == 2 and "/limits/queue_size" in out.stderr
