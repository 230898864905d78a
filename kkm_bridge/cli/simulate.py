"""`kkm-bridge simulate`: placeholder until issue 4 lands."""

from __future__ import annotations

import argparse
import sys


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("simulate", help="Run the software ATOL printer simulator.", description="Run the software ATOL printer simulator.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("kkm-bridge simulate: not implemented yet (issue 4)", file=sys.stderr)
    return 2
