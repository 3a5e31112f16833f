"""Rule dialplans ("Simple Wizard"): an ordered list of JSON rules, first match wins.

A rule document is a JSON list of objects::

    {"direction": "out", "priority": 10, "pattern_type": "prefix", "pattern": "_0X.",
     "caller_pattern_type": "exact", "caller_pattern": "alice",   # optional
     "account": "alice", "provider": "provider1",                 # optional, "in" rules only
     "time": "M Tu W Th F;09:00-17:00",                           # optional, owner's zone
     "enabled": true, "description": "UK numbers via provider1",  # optional
     "command": {"type": "dial", "dial_string": "${dst}@provider1",
                 "ring_seconds": 30, "answered_limit": 3600}}

Commands: ``dial`` (``dial_string``, optional ``ring_seconds`` ≤ 180 and ``answered_limit``),
``reject`` (``code`` 400–699, optional ``reason``), ``script`` (``name`` of a script dialplan),
``flow`` (``id`` of a call flow). Rules are tried by ascending ``priority`` (default 0), ties in
document order; disabled rules are skipped; no match → ``None`` (the caller gets 404).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sipswitch.services.dialplan.dialstring import MAX_DURATION, parse_dial_string
from sipswitch.services.dialplan.patterns import (
    Pattern,
    PatternError,
    TimeWindow,
    compile_pattern,
)
from sipswitch.services.dialplan.variables import CallContext, DialStringError, substitute

MAX_RULES = 1000
MAX_DOCUMENT = 1_000_000
MAX_RING = 180
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_RULE_KEYS = frozenset(
    (
        "direction",
        "priority",
        "pattern_type",
        "pattern",
        "caller_pattern_type",
        "caller_pattern",
        "account",
        "provider",
        "time",
        "enabled",
        "description",
        "command",
    )
)
_PROBE = CallContext(dst="100", from_name="Caller", from_uri_user="100", from_aor="100@example")


class RuleError(ValueError):
    """An invalid rule document; ``index`` (0-based) and ``field`` locate the fault."""

    def __init__(self, message: str, index: int | None = None, field: str | None = None):
        where = "" if index is None else f"rule {index}"
        if field is not None:
            where += f"{', ' if where else ''}field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)
        self.index = index
        self.field = field


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class DialCommand:
    """Dial a dial-string template (variables substituted at call time)."""

    dial_string: str
    ring_seconds: int | None = None
    answered_limit: int | None = None


@dataclass(frozen=True, slots=True)
class RejectCommand:
    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ScriptCommand:
    """Run the customer's script dialplan of this name."""

    name: str


@dataclass(frozen=True, slots=True)
class FlowCommand:
    """Run a call flow (placeholder until the call-flow capability plugs in)."""

    flow_id: str


Command = DialCommand | RejectCommand | ScriptCommand | FlowCommand


@dataclass(frozen=True, slots=True)
class Rule:
    direction: Direction
    pattern: Pattern
    command: Command
    priority: int = 0
    caller: Pattern | None = None
    account: str | None = None
    provider: str | None = None
    time: TimeWindow | None = None
    enabled: bool = True
    description: str = ""

    def matches(
        self,
        direction: Direction,
        dialled: str,
        *,
        caller: str,
        account: str | None,
        provider: str | None,
        local_now: datetime | None,
    ) -> bool:
        if not self.enabled or self.direction is not direction:
            return False
        if self.account is not None and (account or "").casefold() != self.account.casefold():
            return False
        if self.provider is not None and (provider or "").casefold() != self.provider.casefold():
            return False
        if not self.pattern.matches(dialled):
            return False
        if self.caller is not None and not self.caller.matches(caller):
            return False
        return self.time is None or (local_now is not None and self.time.contains(local_now))

    def to_document(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "direction": str(self.direction),
            "priority": self.priority,
            "pattern_type": str(self.pattern.type),
            "pattern": self.pattern.text,
        }
        if self.caller is not None:
            doc["caller_pattern_type"] = str(self.caller.type)
            doc["caller_pattern"] = self.caller.text
        for key in ("account", "provider"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        if self.time is not None:
            doc["time"] = str(self.time)
        if not self.enabled:
            doc["enabled"] = False
        if self.description:
            doc["description"] = self.description
        doc["command"] = _command_document(self.command)
        return doc


@dataclass(frozen=True, slots=True)
class Decision:
    """The matching rule's command, and where that rule sits in the document."""

    rule_index: int
    command: Command


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Validated rules (document order) for one owner, with the owner's time zone."""

    rules: tuple[Rule, ...] = ()
    timezone: str = "UTC"
    _zone: ZoneInfo = field(default=ZoneInfo("UTC"), compare=False, repr=False)
    _order: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def evaluate(
        self,
        direction: Direction | str,
        dialled: str,
        *,
        caller: str = "",
        account: str | None = None,
        provider: str | None = None,
        now: datetime,
    ) -> Decision | None:
        """First matching rule's decision, or None (→ 404). ``now`` must be timezone-aware."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        way = Direction(direction)
        local = now.astimezone(self._zone)
        for index in self._order:
            rule = self.rules[index]
            if rule.matches(
                way, dialled, caller=caller, account=account, provider=provider, local_now=local
            ):
                return Decision(index, rule.command)
        return None

    def to_document(self) -> list[dict[str, object]]:
        return [rule.to_document() for rule in self.rules]

    def to_json(self) -> str:
        return json.dumps(self.to_document(), ensure_ascii=False)


def validate_rules(
    document: str | bytes | list[object],
    *,
    timezone: str = "UTC",
    providers: Iterable[str] | None = None,
) -> RuleSet:
    """Validate a rule document (JSON text or the decoded list) into a :class:`RuleSet`.

    Dial strings are checked against ``providers`` when given; with None, any bare word is
    accepted as a provider name (the provider list may change after saving).
    """
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, OSError, KeyError):
        raise RuleError(f"unknown time zone '{timezone}'") from None
    if isinstance(document, str | bytes):
        if len(document) > MAX_DOCUMENT:
            raise RuleError(f"document larger than {MAX_DOCUMENT} bytes")
        try:
            document = json.loads(document)
        except (ValueError, RecursionError) as exc:
            raise RuleError(f"not JSON: {exc}") from None
    if not isinstance(document, list):
        raise RuleError("the document must be a JSON list of rules")
    if len(document) > MAX_RULES:
        raise RuleError(f"more than {MAX_RULES} rules")
    names = None if providers is None else tuple(providers)
    rules = tuple(_rule(i, item, names) for i, item in enumerate(document))
    order = tuple(sorted(range(len(rules)), key=lambda i: (rules[i].priority, i)))
    return RuleSet(rules, timezone, zone, order)


def _rule(index: int, item: object, providers: tuple[str, ...] | None) -> Rule:
    if not isinstance(item, dict):
        raise RuleError("must be an object", index)
    for key in item:
        if key not in _RULE_KEYS:
            raise RuleError("unknown field", index, str(key))
    if "direction" not in item:
        raise RuleError("required", index, "direction")
    raw_dir = item["direction"]
    if not isinstance(raw_dir, str) or raw_dir.lower() not in ("in", "out"):
        raise RuleError("must be 'in' or 'out'", index, "direction")
    direction = Direction(raw_dir.lower())
    priority = _int(index, item, "priority", -1_000_000, 1_000_000)
    pattern = _pattern(index, item, "pattern_type", "pattern", required=True)
    caller = _pattern(index, item, "caller_pattern_type", "caller_pattern", required=False)
    account = _text(index, item, "account", 64)
    provider = _text(index, item, "provider", 64)
    for key, value in (("account", account), ("provider", provider)):
        if value is not None and direction is Direction.OUT:
            raise RuleError("only 'in' rules match on it", index, key)
    window = None
    raw_time = item.get("time")
    if raw_time is not None:
        if not isinstance(raw_time, str):
            raise RuleError("must be a string", index, "time")
        try:
            window = TimeWindow.parse(raw_time)
        except PatternError as exc:
            raise RuleError(str(exc), index, "time") from None
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError("must be true or false", index, "enabled")
    description = _text(index, item, "description", 200) or ""
    if "command" not in item:
        raise RuleError("required", index, "command")
    command = _command(index, item["command"], providers)
    assert pattern is not None
    return Rule(
        direction,
        pattern,
        command,
        priority,
        caller,
        account,
        provider,
        window,
        enabled,
        description,
    )


def _int(
    index: int,
    item: dict[str, object],
    key: str,
    low: int,
    high: int,
    *,
    default: int = 0,
    prefix: str = "",
) -> int:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RuleError(f"must be an integer {low}–{high}", index, prefix + key)
    return value


def _opt_int(index: int, item: dict[str, object], key: str, low: int, high: int) -> int | None:
    if item.get(key) is None:
        return None
    return _int(index, item, key, low, high, prefix="command.")


def _text(
    index: int, item: dict[str, object], key: str, limit: int, prefix: str = ""
) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise RuleError(f"must be a string of 1–{limit} characters", index, prefix + key)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise RuleError("control character", index, prefix + key)
    return value


def _pattern(
    index: int, item: dict[str, object], type_key: str, key: str, *, required: bool
) -> Pattern | None:
    text = item.get(key)
    if text is None:
        if required:
            raise RuleError("required", index, key)
        if type_key in item:
            raise RuleError(f"given without '{key}'", index, type_key)
        return None
    kind = item.get(type_key, "prefix")
    if not isinstance(kind, str) or kind.lower() not in ("exact", "prefix", "regex"):
        raise RuleError("must be 'exact', 'prefix' or 'regex'", index, type_key)
    if not isinstance(text, str):
        raise RuleError("must be a string", index, key)
    try:
        return compile_pattern(kind, text)
    except PatternError as exc:
        raise RuleError(str(exc), index, key) from None


def _command(index: int, raw: object, providers: tuple[str, ...] | None) -> Command:
    if not isinstance(raw, dict):
        raise RuleError("must be an object", index, "command")
    kind = raw.get("type")
    allowed = {
        "dial": {"type", "dial_string", "ring_seconds", "answered_limit"},
        "reject": {"type", "code", "reason"},
        "script": {"type", "name"},
        "flow": {"type", "id"},
    }
    if not isinstance(kind, str) or kind not in allowed:
        raise RuleError("must be dial, reject, script or flow", index, "command.type")
    for key in raw:
        if key not in allowed[kind]:
            raise RuleError("unknown field", index, f"command.{key}")
    if kind == "dial":
        template = raw.get("dial_string")
        if not isinstance(template, str):
            raise RuleError("required string", index, "command.dial_string")
        try:
            parse_dial_string(
                substitute(template, _PROBE),
                providers=providers,
                dst=_PROBE.dst,
            )
        except DialStringError as exc:
            raise RuleError(str(exc), index, "command.dial_string") from None
        ring = _opt_int(index, raw, "ring_seconds", 1, MAX_RING)
        limit = _opt_int(index, raw, "answered_limit", 1, MAX_DURATION)
        return DialCommand(template, ring, limit)
    if kind == "reject":
        code = _int(index, raw, "code", 400, 699, prefix="command.")
        reason = _text(index, raw, "reason", 128, "command.") or ""
        return RejectCommand(code, reason)
    key = "name" if kind == "script" else "id"
    value = raw.get(key)
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise RuleError("must be 1–64 of A-Z a-z 0-9 _ . -", index, f"command.{key}")
    return ScriptCommand(value) if kind == "script" else FlowCommand(value)


def _command_document(command: Command) -> dict[str, object]:
    if isinstance(command, DialCommand):
        doc: dict[str, object] = {"type": "dial", "dial_string": command.dial_string}
        if command.ring_seconds is not None:
            doc["ring_seconds"] = command.ring_seconds
        if command.answered_limit is not None:
            doc["answered_limit"] = command.answered_limit
        return doc
    if isinstance(command, RejectCommand):
        doc = {"type": "reject", "code": command.code}
        if command.reason:
            doc["reason"] = command.reason
        return doc
    if isinstance(command, ScriptCommand):
        return {"type": "script", "name": command.name}
    return {"type": "flow", "id": command.flow_id}
