"""The console script answers --version and --help as an installed program (subprocess)."""

import subprocess
import sys

from kkm_bridge import __version__


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kkm_bridge", *args], capture_output=True, text=True, timeout=60
    )


def test_version_prints_package_version() -> None:
    out = run_cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"kkm-bridge {__version__}"


def test_help_lists_every_subcommand() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for name in ("serve", "simulate", "devices", "udev-rules"):
        assert name in out.stdout


def test_no_subcommand_is_a_usage_error() -> None:
    out = run_cli()
    assert out.returncode == 2
    assert "usage:" in out.stderr
