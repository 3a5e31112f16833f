"""The restricted language of dialplan scripts: RestrictedPython plus a stricter policy.

On top of RestrictedPython's rules (no `_`-names, no frame/generator/code attributes, guarded
attribute/item/iteration/write access) the policy refuses: imports outside `ALLOWED_MODULES`,
bare `except:` (it could swallow the worker's private stop signal), class definitions,
`async` code, and names that only exist to escape (`exec`, `eval`, `open`, `compile`, ...).
`sys` in a script is the facade object, never the module.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import CodeType

from RestrictedPython.compile import compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer

VisitResult = ast.AST | Iterable[ast.AST] | None

SCRIPT_FILENAME = "<dialplan>"
MAX_SOURCE_BYTES = 64 * 1024

ALLOWED_MODULES = frozenset({"re", "math", "json", "datetime", "time", "random", "string"})

FORBIDDEN_NAMES = frozenset(
    {
        "exec", "eval", "compile", "open", "globals", "locals", "vars", "dir", "input",
        "breakpoint", "help", "memoryview", "type", "object", "super", "classmethod",
        "staticmethod", "property", "BaseException", "SystemExit", "KeyboardInterrupt",
        "GeneratorExit", "exit", "quit", "copyright", "credits", "license",
    }
)  # fmt: skip

# Attributes that walk from any object to the class hierarchy (and so to BaseException).
FORBIDDEN_ATTRIBUTES = frozenset({"mro", "format_map"})

_LINE = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ScriptProblem:
    """One reason a script cannot run, with its 1-based line (0 when not tied to a line)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class DialplanPolicy(RestrictingNodeTransformer):
    """RestrictedPython's transformer with the dialplan restrictions added."""

    def check_import_names(self, node: ast.ImportFrom | ast.Import) -> ast.AST:
        modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom) and node.level:
            modules = ["." * node.level + (node.module or "")]
        for module in modules:
            if module not in ALLOWED_MODULES:
                allowed = ", ".join(sorted(ALLOWED_MODULES))
                self.error(node, f'import of "{module}" is not allowed (allowed: {allowed})')
        result: ast.AST = super().check_import_names(node)
        return result

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> VisitResult:
        if node.type is None:
            self.error(node, 'a bare "except:" is not allowed; use "except Exception:"')
        result: VisitResult = super().visit_ExceptHandler(node)
        return result

    def visit_ClassDef(self, node: ast.ClassDef) -> VisitResult:
        self.error(node, "class definitions are not allowed in dialplans")
        return node

    def visit_Name(self, node: ast.Name) -> VisitResult:
        if node.id in FORBIDDEN_NAMES:
            self.error(node, f'"{node.id}" is not available in dialplans')
        result: VisitResult = super().visit_Name(node)
        return result

    def visit_Attribute(self, node: ast.Attribute) -> VisitResult:
        if node.attr in FORBIDDEN_ATTRIBUTES:
            self.error(node, f'"{node.attr}" is not available in dialplans')
        result: VisitResult = super().visit_Attribute(node)
        return result

    def visit_Global(self, node: ast.Global) -> VisitResult:
        result: VisitResult = self.node_contents_visit(node)
        return result


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled script, or the problems that stop it compiling."""

    code: CodeType | None
    problems: tuple[ScriptProblem, ...]


def compile_script(source: str) -> Compiled:
    """Compile `source` under the dialplan policy; never raises for bad input."""
    if len(source.encode(errors="replace")) > MAX_SOURCE_BYTES:
        return Compiled(None, (ScriptProblem(0, f"script exceeds {MAX_SOURCE_BYTES} bytes"),))
    if "\x00" in source:
        return Compiled(None, (ScriptProblem(0, "script contains a NUL character"),))
    try:
        result = compile_restricted_exec(source, SCRIPT_FILENAME, policy=DialplanPolicy)
    except (RecursionError, MemoryError):
        return Compiled(None, (ScriptProblem(0, "script is too deeply nested"),))
    except (SyntaxError, ValueError) as exc:
        return Compiled(None, (ScriptProblem(getattr(exc, "lineno", 0) or 0, str(exc)),))
    if result.errors or result.code is None:
        problems = tuple(_problem(text) for text in result.errors) or (
            ScriptProblem(0, "script did not compile"),
        )
        return Compiled(None, problems)
    return Compiled(result.code, ())


def validate_script(source: str) -> list[ScriptProblem]:
    """The problems that would stop `source` running (empty when it is acceptable)."""
    return list(compile_script(source).problems)


def _problem(text: str) -> ScriptProblem:
    match = _LINE.match(text)
    if match is None:
        return ScriptProblem(0, text)
    message = match.group(2)
    message = message.removeprefix("SyntaxError: ")
    return ScriptProblem(int(match.group(1)), message)
