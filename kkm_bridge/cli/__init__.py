"""The `kkm-bridge` command line.

Each subcommand lives in its own module under `kkm_bridge.cli` and exposes
`register(subparsers)`; registering it binds `args.func`. This keeps the entry point
free of the (sometimes heavy) imports a subcommand needs until that subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from kkm_bridge import __version__

# Module names under kkm_bridge.cli, in the order --help lists them.
SUBCOMMANDS: tuple[str, ...] = ("serve", "simulate", "devices", "udev_rules", "jobs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kkm-bridge",
        description="Driver and local HTTP bridge for ATOL-protocol fiscal printers, "
        "with a byte-exact printer simulator.",
    )
    parser.add_argument("--version", action="version", version=f"kkm-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"kkm_bridge.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    result = args.func(args)
    return int(result or 0)
