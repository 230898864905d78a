"""`kkm-bridge devices`: placeholder until issue 5 lands."""

from __future__ import annotations

import argparse
import sys


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("devices", help="List candidate fiscal printers (serial, USB, BLE).", description="List candidate fiscal printers (serial, USB, BLE).")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("kkm-bridge devices: not implemented yet (issue 5)", file=sys.stderr)
    return 2
