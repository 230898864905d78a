"""`kkm-bridge serve`: run the local HTTP bridge daemon.

    kkm-bridge serve                              # demo cashbox on the embedded simulator, 127.0.0.1:8080
    kkm-bridge serve --config /etc/kkm-bridge/config.toml
    kkm-bridge serve --listen 127.0.0.1:9000 --state-dir /tmp/kkm
    kkm-bridge serve --hash-key                   # make a new API key; print it and its sha256
    kkm-bridge serve --hash-key < keyfile         # print the sha256 of an existing key

Without --config it writes a development API key to a 0600 file in the state directory and prints the
file's path (never the key). When listening, it prints `listening on http://HOST:PORT` (flushed) so scripts
and tests can wait for it.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("serve", help="Run the local HTTP bridge daemon.", description="Run the local HTTP bridge daemon.")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default: demo cashbox on the simulator)")
    p.add_argument("--listen", metavar="HOST:PORT", help="listen address (default 127.0.0.1:8080; port 0 = any)")
    p.add_argument("--state-dir", metavar="DIR", help="journal and state directory (overrides the config)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.add_argument("--hash-key", action="store_true",
                   help="print the sha256 (for [[api_keys]]) of the key on stdin, or make a new key and print both")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import logging
    from pathlib import Path

    from kkm_bridge.config import default_config, ensure_dev_key, hash_key, load_config, parse_listen
    from kkm_bridge.model.errors import ConfigError

    if args.hash_key:
        key = "" if sys.stdin.isatty() else sys.stdin.readline().strip()
        if key:
            print(hash_key(key))
            return 0
        import secrets

        key = secrets.token_urlsafe(32)
        print(f"key:    {key}\nsha256: {hash_key(key)}")
        return 0
    try:
        state_dir = Path(args.state_dir).expanduser().resolve() if args.state_dir else None
        if args.config:
            config = load_config(args.config)
            if state_dir is not None:
                config = dataclasses.replace(config, state_dir=state_dir)
        else:
            config = default_config(state_dir)
        if args.listen:
            host, port = parse_listen(args.listen, "--listen")
            config = dataclasses.replace(config, host=host, port=port)
        if config.development or not config.api_keys:
            config, key_path = ensure_dev_key(config)
            print(f"development API key written to {key_path} (mode 0600)", flush=True)
    except (ConfigError, OSError) as exc:
        print(f"kkm-bridge serve: {exc}", file=sys.stderr)
        return 2

    from kkm_bridge.daemon import configure_logging
    from kkm_bridge.daemon import run as run_daemon

    configure_logging(getattr(logging, args.log_level.upper()))
    try:
        run_daemon(config, on_ready=lambda daemon: print(f"listening on {daemon.url}", flush=True))
    except OSError as exc:
        print(f"kkm-bridge serve: {exc}", file=sys.stderr)
        return 1
    return 0
