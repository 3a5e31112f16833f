"""Checking a dialplan before it is saved: every problem with its line and the reason.

Scripts go through the sandbox policy (syntax and restricted-language errors); rule documents
through :func:`validate_rules`, whose fault (rule index and field) is placed on the line of the
JSON text where that rule, or that field of it, starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sipswitch.services.dialplan.rules import RuleError, validate_rules
from sipswitch.services.dialplan.sandbox.policy import validate_script

KINDS = ("script", "rules")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a dialplan cannot be saved; ``line`` is 1-based, 0 when no line is to blame."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def validate_dialplan(
    kind: str,
    source: str,
    *,
    timezone: str = "UTC",
    providers: Iterable[str] | None = None,
) -> list[Problem]:
    """The problems with ``source`` as a dialplan of ``kind`` (empty: fit to save).

    ``timezone`` and ``providers`` are the owner's: rule time windows are read in that zone and
    dial strings may name only those providers (None: any name, the list may change later).
    """
    if kind == "script":
        return [Problem(p.line, p.message) for p in validate_script(source)]
    if kind == "rules":
        return _rule_problems(source, timezone, providers)
    return [Problem(0, f"unknown dialplan kind {kind!r}: use {' or '.join(KINDS)}")]


def _rule_problems(source: str, timezone: str, providers: Iterable[str] | None) -> list[Problem]:
    try:
        json.loads(source)
    except json.JSONDecodeError as exc:
        return [Problem(exc.lineno, f"not JSON: {exc.msg} (column {exc.colno})")]
    except (ValueError, RecursionError):
        return [Problem(0, "not JSON (too deeply nested)")]
    try:
        validate_rules(source, timezone=timezone, providers=providers)
    except RuleError as exc:
        return [Problem(_locate(source, exc.index, exc.field), str(exc))]
    return []


def _locate(text: str, index: int | None, field: str | None) -> int:
    """The line of rule ``index`` (or its ``field``, dotted for the command's) in ``text``."""
    if index is None:
        return 0
    spans = _element_spans(text)
    if spans is None or index >= len(spans):
        return 0
    start, end = spans[index]
    for key in field.split(".") if field else ():
        found = _key_at(text, start, end, key)
        if found is None:
            break
        start, end = found
    return text.count("\n", 0, start) + 1


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _element_spans(text: str) -> list[tuple[int, int]] | None:
    """Where each element of the top-level JSON list starts and ends."""
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if not text.startswith("[", pos):
        return None
    pos += 1
    spans: list[tuple[int, int]] = []
    while True:
        pos = _skip(text, pos)
        if text.startswith("]", pos) or pos >= len(text):
            return spans
        try:
            _, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return spans
        spans.append((pos, end))
        pos = _skip(text, end)
        if text.startswith(",", pos):
            pos += 1


def _key_at(text: str, start: int, end: int, key: str) -> tuple[int, int] | None:
    """Span from ``"key"`` to the end of its value, inside one object's text."""
    pattern = re.compile(r'(?<!\\)"' + re.escape(key) + r'"\s*:\s*')
    found = pattern.search(text, start, end)
    if found is None:
        return None
    try:
        _, value_end = json.JSONDecoder().raw_decode(text, found.end())
    except (ValueError, RecursionError):
        return found.start(), end
    return found.start(), value_end
