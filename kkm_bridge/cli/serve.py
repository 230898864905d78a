"""`kkm-bridge serve`: placeholder until issue 6 lands."""

from __future__ import annotations

import argparse
import sys


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("serve", help="Run the local HTTP bridge daemon.", description="Run the local HTTP bridge daemon.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("kkm-bridge serve: not implemented yet (issue 6)", file=sys.stderr)
    return 2
