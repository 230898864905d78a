"""`protocols` is sans-I/O and stands alone: it imports nothing from the daemon or the simulators,
no module that does I/O, and calls no I/O builtins. Checked on the source with `ast`, so a forbidden
import is caught even inside a function body or a branch that tests never execute."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "protocols"
SOURCES = sorted(ROOT.rglob("*.py"))

FORBIDDEN_PACKAGES = {"kkm_bridge", "simulators"}
IO_MODULES = {
    "asyncio", "socket", "ssl", "select", "selectors", "serial", "usb", "bleak", "aiohttp", "http",
    "urllib", "subprocess", "threading", "multiprocessing", "io", "os", "shutil", "tempfile", "pathlib",
    "sqlite3", "logging", "time", "signal", "sys",
}
IO_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_sources_found() -> None:
    assert any(p.name == "v3.py" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_forbidden_imports_or_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for name in _imports(tree):
        top = name.split(".")[0]
        assert top not in FORBIDDEN_PACKAGES, f"{path.name} imports {name}"
        assert top not in IO_MODULES, f"{path.name} imports I/O module {name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in IO_CALLS, f"{path.name} calls {node.func.id}()"
