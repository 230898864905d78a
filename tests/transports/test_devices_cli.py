"""`kkm-bridge devices` and the known-devices list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import usb.core

from kkm_bridge.cli import devices as devices_cli
from kkm_bridge.known_devices import (
    BUILTIN_KNOWN_DEVICES,
    KnownDevice,
    KnownDevicesError,
    find_known,
    load_known_devices,
    parse_known_devices,
)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kkm_bridge", "devices", *args],
                          capture_output=True, text=True, timeout=60)


def test_devices_json_is_valid_even_without_devices() -> None:
    out = run_cli("--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report) == {"known_devices", "serial", "usb", "ble"}
    assert report["ble"] is None  # only scanned with --ble
    for section in ("serial", "usb"):
        assert isinstance(report[section]["devices"], list)
        assert isinstance(report[section]["available"], bool)
    for port in report["serial"]["devices"]:
        assert port["uri"].startswith("serial://")


def test_devices_json_with_ble_reports_a_section(tmp_path: Path) -> None:
    out = run_cli("--json", "--ble", "--scan-timeout", "0.2")
    assert out.returncode == 0, out.stderr
    ble = json.loads(out.stdout)["ble"]
    assert isinstance(ble["devices"], list)
    assert ble["available"] or ble["error"]  # no adapter here is an explained state, not a crash


def test_devices_table_output_and_user_known_devices(tmp_path: Path) -> None:
    known = tmp_path / "known.toml"
    known.write_text('[[device]]\nvid = "1a2b"\npid = "3c4d"\nname = "Test printer"\n', encoding="utf-8")
    out = run_cli("--known-devices", str(known))
    assert out.returncode == 0, out.stderr
    assert "Serial ports:" in out.stdout and "USB devices:" in out.stdout
    report = json.loads(run_cli("--json", "--known-devices", str(known)).stdout)
    assert report["known_devices"][0] == {
        "vid": "1a2b", "pid": "3c4d", "name": "Test printer",
        "confidence": "unconfirmed", "source": str(known),
    }


def test_bad_known_devices_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "known.toml"
    bad.write_text('[[device]]\nvid = "xyz"\n', encoding="utf-8")
    out = run_cli("--known-devices", str(bad))
    assert out.returncode == 2
    assert "not a hex USB id" in out.stderr


def test_builtin_list_presents_no_guess_as_fact() -> None:
    # Our references confirm no ATOL USB ids: anything built in must say where it comes from
    # and must not claim to be confirmed without a source.
    for device in BUILTIN_KNOWN_DEVICES:
        assert device.source
        assert device.confidence in ("confirmed", "unconfirmed")


def test_known_device_parsing_and_matching(tmp_path: Path) -> None:
    entries = parse_known_devices([
        {"vid": "0x1A2B", "pid": "3c4d", "name": "Model A", "confidence": "confirmed", "source": "bench"},
        {"vid": 0x1A2B, "name": "Any from vendor"},
    ])
    assert entries[0] == KnownDevice(0x1A2B, 0x3C4D, "Model A", "confirmed", "bench")
    assert entries[1].pid is None and entries[1].confidence == "unconfirmed"
    assert find_known(0x1A2B, 0x3C4D, entries) is entries[0]
    assert find_known(0x1A2B, 0x9999, entries) is entries[1]
    assert find_known(0x9999, 0x3C4D, entries) is None
    assert find_known(None, None, entries) is None
    json_file = tmp_path / "known.json"
    json_file.write_text(json.dumps([{"vid": "abcd", "pid": "0001"}]), encoding="utf-8")
    assert load_known_devices(json_file)[0].ids() == "abcd:0001"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"pid": "0001"}, "vid is required"),
        ({"vid": "12345"}, "out of range"),
        ({"vid": "1a2b", "confidence": "sure"}, "confidence must be"),
        ({"vid": "1a2b", "colour": "red"}, "unknown field"),
    ],
)
def test_known_device_errors(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(KnownDevicesError, match=message):
        parse_known_devices([entry])


class FakeUsbDevice:
    """Enough of a pyusb Device for listing: ids, position, string descriptors."""

    def __init__(self, vid: int, pid: int, bus: int, address: int, readable: bool = True) -> None:
        self.idVendor, self.idProduct, self.bus, self.address = vid, pid, bus, address
        self._readable = readable

    def _string(self, value: str) -> str:
        if not self._readable:
            raise usb.core.USBError("Access denied (insufficient permissions)", error_code=-3, errno=13)
        return value

    @property
    def manufacturer(self) -> str:
        return self._string("Maker")

    @property
    def product(self) -> str:
        return self._string("Printer")

    @property
    def serial_number(self) -> str:
        return self._string("SN1")


def test_usb_listing_marks_known_ids_and_survives_permissions_fake_usb(monkeypatch: pytest.MonkeyPatch) -> None:
    found = [FakeUsbDevice(0x1A2B, 0x3C4D, 1, 7), FakeUsbDevice(0x0001, 0x0002, 1, 3, readable=False)]
    monkeypatch.setattr(usb.core, "find", lambda find_all=False, **kw: iter(found))
    known = parse_known_devices([{"vid": "1a2b", "pid": "3c4d", "name": "Model A"}])
    section = devices_cli.list_usb(known)
    assert section["available"] is True
    first, second = section["devices"]  # sorted by bus/address
    assert (first["uri"], first["uri_by_position"], first["known"]) == ("usb://0001:0002", "usb://1/3", None)
    assert first["manufacturer"] is None  # unreadable without permission; ids still listed
    assert second["known"]["name"] == "Model A" and second["known"]["confidence"] == "unconfirmed"
    assert second["product"] == "Printer"


def test_usb_listing_without_backend_fake_usb(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_backend(**kwargs: Any) -> Any:
        raise usb.core.NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", no_backend)
    section = devices_cli.list_usb([])
    assert section == {"available": False, "devices": [],
                       "error": section["error"]}
    assert "libusb" in section["error"]
