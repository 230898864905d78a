"""`kkm-bridge udev-rules`: placeholder until issue 6 lands."""

from __future__ import annotations

import argparse
import sys


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("udev-rules", help="Print udev rules for the configured printer USB ids.", description="Print udev rules for the configured printer USB ids.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("kkm-bridge udev-rules: not implemented yet (issue 6)", file=sys.stderr)
    return 2
