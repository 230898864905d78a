"""`kkm-bridge simulate`: run the software ATOL printer (transport v3) on a pty and/or a TCP port.

Examples::

    kkm-bridge simulate --tcp 5555 --state sim.db          # TCP on 127.0.0.1:5555, persistent
    kkm-bridge simulate --pty --model 32                     # prints "pty: /dev/pts/N"
    kkm-bridge simulate --tcp 0 --fault power-cut:after_close_receipt_before_reply
    kkm-bridge simulate --state sim.db --dump              # fiscal memory as JSON, then exit

On startup it prints one line per endpoint, `pty: <path>` and `tcp: <host>:<port>`, then `ready`,
each flushed, so scripts can read them. While it runs, SIGUSR1 takes the paper out / puts it back and
SIGUSR2 opens / closes the cover (`kill -USR1 <pid>`), for trying a driver's reaction by hand. Faults use the spec syntax of
`simulators.atol.faults.parse_fault_spec` (repeat `--fault`).
"""

from __future__ import annotations

import argparse
import sys

FAULT_HELP = (
    "inject a fault (repeatable): corrupt-rate:R, corrupt-in-rate:R, drop-rate:R, drop[:cmd=4A,count=N,skip=N], "
    "corrupt[:cmd=4A], stall:seconds=S[,cmd=4A], disconnect[:cmd=4A,seconds=S], power-cut:POINT "
    "(after_close_receipt_before_reply, before_close_receipt_commit, mid_close_receipt_reply, "
    "before_execute, after_execute_before_reply, ...), paper-out-after:N, cover-open-after:N, "
    "power-off-seconds:S"
)


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "simulate",
        help="Run the software ATOL printer simulator.",
        description="Run the software ATOL printer simulator (transport v3) on a pseudo-terminal and/or TCP.",
    )
    p.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal (prints its /dev/pts path)")
    p.add_argument("--tcp", nargs="?", const="5555", metavar="[HOST:]PORT",
                   help="serve on TCP (default 127.0.0.1:5555; port 0 picks a free port)")
    p.add_argument("--state", metavar="FILE", help="fiscal memory and device state file (created if missing)")
    p.add_argument("--dump", action="store_true", help="with --state: print the fiscal memory as JSON and exit")
    p.add_argument("--render", type=int, metavar="N",
                   help="with --state: print fiscal document N as the printer printed it, and exit")
    p.add_argument("--render-format", choices=("text", "html", "png"), default="text",
                   help="format of --render (html/png embed a real QR code)")
    p.add_argument("--output", metavar="FILE", help="write --render here instead of stdout (needed for png)")
    p.add_argument("--protocol", choices=("v3", "v2"), default="v3", help="transport protocol (default v3)")
    p.add_argument("--dialect", choices=("default", "atol4j", "unact", "dant"), default="default",
                   help="reply layout where the sources disagree (protocols.atol.commands.Dialect)")
    p.add_argument("--model", type=int, choices=(32, 48), default=48, help="line width: 32 (58 mm) or 48 (80 mm)")
    p.add_argument("--baud", type=int, default=None, help="pace output at BAUD (bytes*10/baud seconds)")
    p.add_argument("--command-delay", type=float, default=0.0, metavar="S", help="processing time per command")
    p.add_argument("--line-delay", type=float, default=0.0, metavar="S", help="printing time per tape line")
    p.add_argument("--busy", action="store_true",
                   help="with --command-delay/--line-delay: the device stays busy (REQ answers A2, ADDs queue) "
                        "instead of just delaying its answer")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC", help=FAULT_HELP)
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the random faults")
    p.add_argument("--offline", action="store_true", help="mark new fiscal documents as made offline")
    p.add_argument("--shift-hours", type=float, default=24.0, metavar="H",
                   help="shift length before it expires (default 24; e.g. 0.001 to test expiry quickly)")
    p.add_argument("--access-password", type=int, default=0, metavar="N", help="access password (default 0000)")
    p.add_argument("--no-auto-open-shift", action="store_true", help="require 9A before the first receipt")
    p.add_argument("--tape-dir", metavar="DIR", help="write every printed document as .txt, .html and .png")
    p.add_argument("--sign-key-seed", type=int, default=None, help="deterministic fiscal-sign key for a new state")
    p.add_argument("--tax-table", metavar="SPEC", default=None,
                   help="the programmed tax slots: a country (KZ, UZ, RU: the table the daemon's config assumes "
                        "for it) or INDEX=RATE pairs such as 1=16,2=10,3=0,4=none; default 1=20,2=10,3=0,4=none")
    reg = p.add_argument_group("registration data (used when the state file is created)")
    reg.add_argument("--seller-name")
    reg.add_argument("--seller-bin")
    reg.add_argument("--address")
    reg.add_argument("--registration-number")
    reg.add_argument("--factory-number")
    reg.add_argument("--ofd-name")
    reg.add_argument("--ofd-site")
    reg.add_argument("--qr-url-base", help="verification URL base put in the QR code")
    p.set_defaults(func=run)


def parse_tcp(value: str) -> tuple[str, int]:
    """`"5555"` -> ("127.0.0.1", 5555); `"0.0.0.0:5555"` -> ("0.0.0.0", 5555)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    return host or "127.0.0.1", int(port)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from simulators.atol.fiscal_memory import FiscalMemory

    if args.render is not None:
        return render_document(args)
    if args.dump:
        if not args.state or not Path(args.state).exists():
            print("kkm-bridge simulate: --dump needs an existing --state file", file=sys.stderr)
            return 2
        try:
            memory = FiscalMemory(args.state)
        except ValueError as exc:
            print(f"kkm-bridge simulate: {exc}", file=sys.stderr)
            return 2
        try:
            json.dump(memory.to_json_dict(), sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `--dump | head` is fine; keep Python from complaining at exit
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        finally:
            memory.close()
        return 0
    try:
        tcp = parse_tcp(args.tcp) if args.tcp is not None else None
    except ValueError:
        print(f"kkm-bridge simulate: bad --tcp value {args.tcp!r}", file=sys.stderr)
        return 2
    if tcp is None and not args.pty:
        tcp = ("127.0.0.1", 5555)
    try:
        sim = build_simulator(args)
    except ValueError as exc:
        print(f"kkm-bridge simulate: {exc}", file=sys.stderr)
        return 2
    import asyncio

    try:
        asyncio.run(_serve(sim, tcp, args.pty))
    except KeyboardInterrupt:
        pass
    return 0


def render_document(args: argparse.Namespace) -> int:
    """`--render N`: reprint a stored fiscal document from the state file."""
    from pathlib import Path

    from simulators.atol.config import DeviceConfig, Registration
    from simulators.atol.device import load_tax_table
    from simulators.atol.fiscal_memory import FiscalMemory
    from simulators.atol.tape import render_fiscal_document

    if not args.state or not Path(args.state).exists():
        print("kkm-bridge simulate: --render needs an existing --state file", file=sys.stderr)
        return 2
    try:
        memory = FiscalMemory(args.state)
    except ValueError as exc:
        print(f"kkm-bridge simulate: {exc}", file=sys.stderr)
        return 2
    try:
        document = memory.get(args.render)
        if document is None:
            print(f"kkm-bridge simulate: no fiscal document {args.render}", file=sys.stderr)
            return 1
        config = DeviceConfig(line_width=args.model)
        if memory.extra.get("registration"):
            config.registration = Registration(**memory.extra["registration"])
        printed = render_fiscal_document(document, config, load_tax_table(
            parse_tax_table(args.tax_table) if args.tax_table else None))
    finally:
        memory.close()
    if args.render_format == "png":
        if not args.output:
            print("kkm-bridge simulate: --render-format png needs --output FILE", file=sys.stderr)
            return 2
        Path(args.output).write_bytes(printed.to_png())
        return 0
    text = printed.text() if args.render_format == "text" else printed.to_html()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def build_simulator(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from simulators.atol import DeviceConfig, Faults, Simulator, WireTiming, parse_fault_spec

    config = DeviceConfig(line_width=args.model, offline=args.offline, auto_open_shift=not args.no_auto_open_shift,
                          sign_key_seed=args.sign_key_seed, shift_hours=args.shift_hours)
    config.passwords.access = args.access_password
    reg = config.registration
    for name in ("seller_name", "seller_bin", "address", "registration_number", "factory_number", "ofd_name",
                 "ofd_site", "qr_url_base"):
        value = getattr(args, name)
        if value is not None:
            setattr(reg, name, value)
    faults = Faults(seed=args.fault_seed)
    for spec in args.fault:
        parse_fault_spec(faults, spec)
    timing = WireTiming(baud=args.baud, command_seconds=args.command_delay, line_seconds=args.line_delay,
                        busy_device=args.busy)
    tax_table = parse_tax_table(args.tax_table) if args.tax_table else None
    sim = Simulator(config, state_path=args.state, faults=faults, timing=timing, protocol=args.protocol,
                    tax_table=tax_table)
    if args.dialect != "default":
        from protocols.atol import commands as cmd

        sim.dispatcher.dialect = {"atol4j": cmd.ATOL4J_DIALECT, "unact": cmd.UNACT_DIALECT,
                                  "dant": cmd.DANT_DIALECT}[args.dialect]
    if args.tape_dir:
        _write_tape_to(sim, args.tape_dir)
    return sim


def parse_tax_table(spec: str) -> dict[int, object]:
    """`--tax-table`: `"KZ"` -> that country's default slots (`kkm_bridge.config.DEFAULT_TAX_TABLES`, the
    table a daemon config without `[devices.tax_table]` assumes); `"1=16,2=none"` -> those slots.
    ValueError with the offending part on a mistake."""
    from kkm_bridge.config import DEFAULT_TAX_TABLES
    from kkm_bridge.model.errors import InputError
    from kkm_bridge.model.tax import VatRate
    from protocols.atol.tax_table import TaxSlot

    text = spec.strip()
    if text.upper() in DEFAULT_TAX_TABLES:
        pairs = list(DEFAULT_TAX_TABLES[text.upper()].items())
    else:
        pairs = []
        for part in text.split(","):
            index, sep, code = part.partition("=")
            if not sep or not index.strip().isdigit() or not 1 <= int(index) <= 255:
                raise ValueError(f"bad --tax-table entry {part.strip()!r}: expected INDEX=RATE with INDEX 1..255, "
                                 f"or a country ({', '.join(DEFAULT_TAX_TABLES)})")
            pairs.append((int(index), code.strip()))
    table: dict[int, object] = {}
    for index, code in pairs:
        try:
            rate = VatRate.parse(code)
        except InputError as exc:
            raise ValueError(f"bad --tax-table rate {code!r}: {exc.message}") from None
        if index in table:
            raise ValueError(f"--tax-table slot {index} given twice")
        table[index] = TaxSlot(index, rate.code, rate.percent)
    return table


def _write_tape_to(sim, directory: str) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    counter = [len(list(out.glob("*.txt")))]

    def save(printed) -> None:  # type: ignore[no-untyped-def]
        counter[0] += 1
        stem = out / f"{counter[0]:05d}-{printed.kind}"
        stem.with_suffix(".txt").write_text(printed.text(), encoding="utf-8")
        stem.with_suffix(".html").write_text(printed.to_html(), encoding="utf-8")
        stem.with_suffix(".png").write_bytes(printed.to_png())

    sim.device.on_print = save


async def _serve(sim, tcp: tuple[str, int] | None, pty: bool) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import signal

    from simulators.atol.servers import start_servers

    servers, address, path = await start_servers(sim, tcp, pty)
    if path:
        print(f"pty: {path}", flush=True)
    if address:
        print(f"tcp: {address[0]}:{address[1]}", flush=True)
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def toggle_paper() -> None:
        sim.device.paper_present = not sim.device.paper_present
        print(f"paper: {'present' if sim.device.paper_present else 'out'}", file=sys.stderr, flush=True)

    def toggle_cover() -> None:
        sim.device.cover_open = not sim.device.cover_open
        print(f"cover: {'open' if sim.device.cover_open else 'closed'}", file=sys.stderr, flush=True)

    loop.add_signal_handler(signal.SIGUSR1, toggle_paper)
    loop.add_signal_handler(signal.SIGUSR2, toggle_cover)
    try:
        await stop.wait()
    finally:
        for server in servers:
            await server.close()
        sim.close()
        if sim.faults.triggered:
            print("faults triggered: " + ", ".join(sim.faults.triggered), file=sys.stderr, flush=True)
