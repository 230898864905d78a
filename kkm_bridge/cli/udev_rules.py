"""`kkm-bridge udev-rules`: print udev rules giving the service's group access to the printers.

The ids come from the built-in known-devices list (empty: ATOL's ids are unconfirmed), the
daemon config (`--config`: usb://VID:PID device URIs and [[known_devices]] tables) and a
known-devices file (`--known-devices`). With none of them the output is exactly the shipped
systemd/99-kkm-bridge.rules: a header and a commented-out template.
"""

from __future__ import annotations

import argparse
import sys

from kkm_bridge.known_devices import KnownDevice, KnownDevicesError, load_known_devices
from kkm_bridge.service.udev import (
    DEFAULT_GROUP,
    RULES_FILE_NAME,
    UdevRulesError,
    Unresolved,
    ids_from_config_file,
    render_rules,
)


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "udev-rules",
        help="Print udev rules for the configured printer USB ids.",
        description="Print udev rules that give GROUP access (mode 0660) to the tty and raw USB "
        "device nodes of the configured fiscal-printer USB ids. Install with: "
        f"kkm-bridge udev-rules --config FILE | sudo tee /etc/udev/rules.d/{RULES_FILE_NAME}",
    )
    p.add_argument("--config", metavar="FILE",
                   help="daemon config: usb://VID:PID device URIs and [[known_devices]] tables add ids")
    p.add_argument("--known-devices", metavar="FILE",
                   help="TOML/JSON file of extra USB ids that mean 'fiscal printer' (as for `devices`)")
    p.add_argument("--group", default=DEFAULT_GROUP, metavar="NAME",
                   help=f"group that gets the devices (default: {DEFAULT_GROUP}, the service's group)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        known = load_known_devices(args.known_devices)
        configured: list[KnownDevice] = []
        unresolved: list[Unresolved] = []
        if args.config is not None:
            configured, unresolved = ids_from_config_file(args.config)
        text = render_rules(configured + known, args.group, unresolved)
    except (KnownDevicesError, UdevRulesError) as exc:
        print(f"kkm-bridge udev-rules: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0
