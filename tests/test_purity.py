"""The protocol cores import only the standard library, and none of its I/O or clock modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PURE_PACKAGES = ("sip", "sdp", "media")
FORBIDDEN = {
    "asyncio",
    "socket",
    "selectors",
    "ssl",
    "time",
    "logging",
    "threading",
    "multiprocessing",
    "subprocess",
    "sqlite3",
    "random",
    "datetime",
}
SRC = Path(__file__).resolve().parents[1] / "src" / "sipswitch"


def _modules() -> list[Path]:
    return sorted(p for pkg in PURE_PACKAGES for p in (SRC / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_module_imports_only_safe_stdlib(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top == "sipswitch":
                sub = name.split(".")[1] if "." in name else ""
                assert sub in PURE_PACKAGES, f"{path.name} imports impure {name}"
                continue
            assert top in sys.stdlib_module_names, f"{path.name} imports non-stdlib {name}"
            assert top not in FORBIDDEN, f"{path.name} imports I/O or clock module {name}"
