"""The decision layer is pure: no I/O, clock, storage or asyncio imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "sipswitch" / "services" / "dialplan"
MODULES = ("__init__", "dialstring", "variables", "patterns", "rules")
ALLOWED_STDLIB = {
    "__future__", "collections", "dataclasses", "datetime", "enum", "json", "re", "typing",
    "zoneinfo",
}  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_imports_are_pure(name: str) -> None:
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module
            modules = [node.module]
        else:
            continue
        for module in modules:
            if module.startswith("sipswitch."):
                assert module.startswith(("sipswitch.sip.", "sipswitch.services.dialplan."))
                assert ".sandbox" not in module
            else:
                assert module.split(".")[0] in ALLOWED_STDLIB, module
