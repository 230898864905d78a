"""`kkm-bridge devices`: list candidate printers (serial ports, USB devices, BLE with --ble).

Each section is gathered independently and reports its own problem (no libusb, no Bluetooth
adapter, no permission) instead of failing the whole command: the point of this command is to
help someone find out what is wrong. Every entry carries the transport URI to put in config.

Which USB ids are fiscal printers comes from `kkm_bridge.known_devices` (empty by default,
extensible with --known-devices FILE); an id we are not sure of is labelled "unconfirmed".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from kkm_bridge.known_devices import KnownDevice, KnownDevicesError, find_known, load_known_devices

NUS_SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "devices",
        help="List candidate fiscal printers (serial, USB, BLE).",
        description="List candidate fiscal printers: serial ports (with USB VID:PID where known), "
        "USB devices, and Bluetooth LE devices with --ble. Each line shows the transport URI to use.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--ble", action="store_true", help="also scan for Bluetooth LE devices")
    p.add_argument("--scan-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="how long to scan for BLE devices (default: 5)")
    p.add_argument("--known-devices", metavar="FILE",
                   help="TOML/JSON file of extra USB ids that mean 'fiscal printer'")
    p.set_defaults(func=run)


def _known_json(known: KnownDevice | None) -> dict[str, Any] | None:
    return None if known is None else known.to_json()


def _hex(value: int | None) -> str | None:
    return None if value is None else f"{value:04x}"


def list_serial(known: Sequence[KnownDevice]) -> dict[str, Any]:
    try:
        from serial.tools import list_ports

        ports = sorted(list_ports.comports(), key=lambda p: p.device)
    except Exception as exc:  # platform enumeration problems must not hide the other sections
        return {"available": False, "error": f"cannot list serial ports: {exc}", "devices": []}
    devices = []
    for port in ports:
        devices.append({
            "device": port.device,
            # "/dev/ttyACM0" -> serial:///dev/ttyACM0, "COM3" -> serial://COM3
            "uri": f"serial://{port.device}",
            "description": port.description if port.description != "n/a" else None,
            "vid": _hex(port.vid),
            "pid": _hex(port.pid),
            "serial_number": port.serial_number,
            "manufacturer": port.manufacturer,
            "product": port.product,
            "location": port.location,
            "known": _known_json(find_known(port.vid, port.pid, known)),
        })
    return {"available": True, "error": None, "devices": devices}


def _usb_string(device: Any, attribute: str) -> str | None:
    try:
        value = getattr(device, attribute)
    except Exception:  # usually EACCES without the udev rule; the ids are still useful
        return None
    return None if value is None else str(value)


def list_usb(known: Sequence[KnownDevice]) -> dict[str, Any]:
    try:
        import usb.core
    except ImportError as exc:
        return {"available": False, "error": f"pyusb is not installed: {exc}", "devices": []}
    try:
        found = list(usb.core.find(find_all=True))
    except usb.core.NoBackendError:
        return {
            "available": False,
            "error": "no libusb backend: install libusb 1.0 (Debian/Ubuntu: sudo apt install libusb-1.0-0)",
            "devices": [],
        }
    except Exception as exc:
        return {"available": False, "error": f"cannot list USB devices: {exc}", "devices": []}
    devices = []
    unreadable = 0
    for dev in sorted(found, key=lambda d: (d.bus or 0, d.address or 0)):
        strings = {name: _usb_string(dev, name) for name in ("manufacturer", "product", "serial_number")}
        if all(value is None for value in strings.values()):
            unreadable += 1
        devices.append({
            "vid": _hex(dev.idVendor),
            "pid": _hex(dev.idProduct),
            "bus": dev.bus,
            "address": dev.address,
            "uri": f"usb://{dev.idVendor:04x}:{dev.idProduct:04x}",
            "uri_by_position": f"usb://{dev.bus}/{dev.address}",
            **strings,
            "known": _known_json(find_known(dev.idVendor, dev.idProduct, known)),
        })
    note = None
    if devices and unreadable == len(devices):
        note = ("names unreadable (no permission?): see `kkm-bridge udev-rules`; "
                "ids are shown regardless")
    return {"available": True, "error": note, "devices": devices}


async def _scan_ble(timeout: float) -> dict[str, Any]:
    try:
        from bleak import BleakScanner

        found = await BleakScanner.discover(timeout=timeout, return_adv=True)
    except Exception as exc:  # no adapter, no BlueZ/D-Bus, permissions: report, don't crash
        hint = ""
        if sys.platform.startswith("linux") and isinstance(exc, (FileNotFoundError, ConnectionError)):
            hint = " (is the system D-Bus available and bluetoothd running?)"
        return {"available": False,
                "error": f"Bluetooth LE scan failed: {type(exc).__name__}: {exc}{hint}",
                "devices": []}
    devices = []
    for address, (device, adv) in sorted(found.items()):
        service_uuids = [u.lower() for u in (adv.service_uuids or [])]
        devices.append({
            "address": address,
            "name": device.name or adv.local_name,
            "rssi": adv.rssi,
            "uri": f"ble://{address}",
            "uart_service": NUS_SERVICE in service_uuids,
            "service_uuids": service_uuids,
        })
    return {"available": True, "error": None, "devices": devices}


def list_ble(timeout: float) -> dict[str, Any]:
    return asyncio.run(_scan_ble(timeout))


def _known_label(known: dict[str, Any] | None) -> str:
    if known is None:
        return "-"
    label = str(known["name"])
    return label if known["confidence"] == "confirmed" else f"{label} (unconfirmed)"


def _print_table(report: dict[str, Any]) -> None:
    out = sys.stdout
    serial = report["serial"]
    print("Serial ports:", file=out)
    if serial["error"]:
        print(f"  ({serial['error']})", file=out)
    elif not serial["devices"]:
        print("  (none found)", file=out)
    for d in serial["devices"]:
        ids = f"{d['vid']}:{d['pid']}" if d["vid"] else "-"
        print(f"  {d['uri']:<32} {ids:<10} known: {_known_label(d['known']):<24} {d['description'] or ''}",
              file=out)

    usb = report["usb"]
    print("USB devices:", file=out)
    if usb["error"]:
        print(f"  ({usb['error']})", file=out)
    if usb["available"] and not usb["devices"]:
        print("  (none found)", file=out)
    for d in usb["devices"]:
        name = " ".join(x for x in (d["manufacturer"], d["product"]) if x) or "?"
        print(f"  {d['uri']:<20} {d['uri_by_position']:<12} known: {_known_label(d['known']):<24} {name}",
              file=out)

    ble = report.get("ble")
    if ble is not None:
        print("Bluetooth LE devices:", file=out)
        if ble["error"]:
            print(f"  ({ble['error']})", file=out)
        elif not ble["devices"]:
            print("  (none found)", file=out)
        for d in ble["devices"]:
            uart = "UART service" if d["uart_service"] else ""
            print(f"  {d['uri']:<26} rssi {d['rssi']!s:>4}  {d['name'] or '?':<20} {uart}", file=out)
    else:
        print("Bluetooth LE: not scanned (use --ble)", file=out)
    if not report["known_devices"]:
        print("\nNo USB ids are marked as fiscal printers: kkm-bridge ships none (ATOL's ids are not "
              "confirmed in our references). Add yours with --known-devices FILE.", file=out)


def build_report(known_devices_file: str | None, ble: bool, scan_timeout: float) -> dict[str, Any]:
    known = load_known_devices(known_devices_file)
    report: dict[str, Any] = {
        "known_devices": [k.to_json() for k in known],
        "serial": list_serial(known),
        "usb": list_usb(known),
        "ble": list_ble(scan_timeout) if ble else None,
    }
    return report


def run(args: argparse.Namespace) -> int:
    if args.scan_timeout <= 0:
        print("kkm-bridge devices: --scan-timeout must be > 0", file=sys.stderr)
        return 2
    try:
        report = build_report(args.known_devices, args.ble, args.scan_timeout)
    except KnownDevicesError as exc:
        print(f"kkm-bridge devices: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_table(report)
    return 0
