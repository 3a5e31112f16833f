"""Rule dialplans: validation errors, priority order, matching, time windows in the owner's zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sipswitch.services.dialplan import (
    Decision,
    DialCommand,
    Direction,
    FlowCommand,
    RejectCommand,
    RuleError,
    RuleSet,
    ScriptCommand,
    validate_rules,
)

NOW = datetime(2024, 1, 3, 12, 0, tzinfo=UTC)  # a Wednesday


def dial(ds: str, **extra: object) -> dict[str, object]:
    return {"type": "dial", "dial_string": ds, **extra}


def rule(pattern: str = "_!", **fields: object) -> dict[str, object]:
    doc: dict[str, object] = {"direction": "out", "pattern": pattern, "command": dial("${dst}@p1")}
    doc.update(fields)
    return doc


def first(ruleset: RuleSet, dialled: str = "123", **kw: object) -> int | None:
    kw.setdefault("now", NOW)
    direction = kw.pop("direction", "out")
    decision = ruleset.evaluate(direction, dialled, **kw)  # type: ignore[arg-type]
    return None if decision is None else decision.rule_index


def test_example_document() -> None:
    doc = [
        {
            "direction": "Out",
            "priority": 10,
            "pattern_type": "prefix",
            "pattern": "_0X.",
            "command": {
                "type": "dial",
                "dial_string": "${dst:1}@provider1[cd=3600]",
                "ring_seconds": 30,
                "answered_limit": 3600,
            },
        },
        {
            "direction": "out",
            "priority": 5,
            "pattern_type": "regex",
            "pattern": "09\\d+",
            "command": {"type": "reject", "code": 403, "reason": "Premium numbers barred"},
        },
        {
            "direction": "in",
            "pattern": "_!",
            "account": "alice",
            "time": "Sa Su",
            "command": {"type": "flow", "id": "weekend-voicemail"},
        },
        {"direction": "in", "pattern": "_!", "command": {"type": "script", "name": "inbound"}},
    ]
    rs = validate_rules(json.dumps(doc), timezone="Europe/London", providers=["provider1"])
    assert rs.evaluate("out", "0901234", now=NOW) == Decision(
        1, RejectCommand(403, "Premium numbers barred")
    )
    assert rs.evaluate(Direction.OUT, "01234", now=NOW) == Decision(
        0, DialCommand("${dst:1}@provider1[cd=3600]", 30, 3600)
    )
    assert rs.evaluate("out", "123", now=NOW) is None
    saturday = datetime(2024, 1, 6, 12, tzinfo=UTC)
    assert rs.evaluate("in", "alice", account="Alice", now=saturday) == Decision(
        2, FlowCommand("weekend-voicemail")
    )
    assert rs.evaluate("in", "alice", account="alice", now=NOW) == Decision(
        3, ScriptCommand("inbound")
    )
    assert rs.evaluate("in", "bob", account="bob", now=saturday) == Decision(
        3, ScriptCommand("inbound")
    )
    again = validate_rules(rs.to_json(), timezone="Europe/London")
    assert again == rs
    assert again.to_json() == rs.to_json()


def test_priority_then_document_order() -> None:
    rs = validate_rules([rule(priority=5), rule(priority=1), rule(priority=1), rule(priority=-3)])
    assert first(rs) == 3
    rs = validate_rules([rule(priority=2), rule(priority=1), rule(priority=1)])
    assert first(rs) == 1
    rs = validate_rules([rule(), rule()])
    assert first(rs) == 0


def test_disabled_rules_skipped() -> None:
    rs = validate_rules([rule(enabled=False), rule("_1!")])
    assert first(rs, "123") == 1
    assert first(rs, "23") is None


def test_direction() -> None:
    rs = validate_rules([rule(direction="in")])
    assert first(rs, direction="out") is None
    assert first(rs, direction="in") == 0


def test_account_and_provider_match_in_rules() -> None:
    rs = validate_rules(
        [
            rule(direction="in", provider="Gateway"),
            rule(direction="in", account="bob"),
            rule(direction="in", account="carol", provider="gw2"),
        ]
    )
    assert first(rs, direction="in", provider="gateway") == 0
    assert first(rs, direction="in", account="bob") == 1
    assert first(rs, direction="in", account="carol") is None
    assert first(rs, direction="in", account="carol", provider="GW2") == 2
    assert first(rs, direction="in") is None


def test_caller_patterns() -> None:
    rs = validate_rules(
        [
            rule(caller_pattern="_07X.", command={"type": "reject", "code": 486}),
            rule(caller_pattern_type="exact", caller_pattern="alice"),
            rule(caller_pattern_type="regex", caller_pattern="(?i)bob|carol"),
        ]
    )
    assert first(rs, caller="07123") == 0
    assert first(rs, caller="alice") == 1
    assert first(rs, caller="Alice") is None
    assert first(rs, caller="CAROL") == 2
    assert first(rs, caller="") is None


def london(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Europe/London"))


def test_time_window_in_owner_zone() -> None:
    rs = validate_rules([rule(time="M Tu W Th F;09:00-17:00")], timezone="America/New_York")
    # 13:00 UTC on a Wednesday is 08:00 in New York: outside
    assert first(rs, now=datetime(2024, 1, 3, 13, 0, tzinfo=UTC)) is None
    assert first(rs, now=datetime(2024, 1, 3, 14, 0, tzinfo=UTC)) == 0
    # the same instant expressed in another zone gives the same answer
    tokyo = datetime(2024, 1, 3, 14, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Tokyo")
    )
    assert first(rs, now=tokyo) == 0


def test_window_across_midnight() -> None:
    rs = validate_rules([rule(time="F;22:00-06:00")], timezone="Europe/London")
    assert first(rs, now=london(2024, 1, 5, 23)) == 0  # Friday night
    assert first(rs, now=london(2024, 1, 6, 5, 59)) == 0  # Saturday morning, still Friday's
    assert first(rs, now=london(2024, 1, 6, 6)) is None
    assert first(rs, now=london(2024, 1, 6, 23)) is None  # Saturday night: not listed
    assert first(rs, now=london(2024, 1, 5, 5)) is None  # Friday early: Thursday's window


def test_window_across_dst_spring_forward() -> None:
    # Europe/London: 2024-03-31 01:00 GMT → 02:00 BST
    rs = validate_rules([rule(time="Su;01:00-03:00")], timezone="Europe/London")
    before = datetime(2024, 3, 31, 0, 59, tzinfo=UTC)  # 00:59 GMT
    assert first(rs, now=before) is None
    assert first(rs, now=before + timedelta(minutes=1)) == 0  # 01:00 UTC = 02:00 BST
    assert first(rs, now=datetime(2024, 3, 31, 1, 59, tzinfo=UTC)) == 0  # 02:59 BST
    assert first(rs, now=datetime(2024, 3, 31, 2, 0, tzinfo=UTC)) is None  # 03:00 BST
    # 09:00-17:00 keeps following the wall clock on either side of the change
    rs = validate_rules([rule(time=";09:00-17:00")], timezone="Europe/London")
    assert first(rs, now=datetime(2024, 3, 30, 9, 0, tzinfo=UTC)) == 0  # 09:00 GMT
    assert first(rs, now=datetime(2024, 4, 1, 8, 0, tzinfo=UTC)) == 0  # 09:00 BST
    assert first(rs, now=datetime(2024, 4, 1, 7, 59, tzinfo=UTC)) is None  # 08:59 BST


def test_window_across_dst_fall_back() -> None:
    # Europe/London: 2024-10-27 02:00 BST → 01:00 GMT; 01:00-02:00 happens twice
    rs = validate_rules([rule(time="Su;01:00-02:00")], timezone="Europe/London")
    assert first(rs, now=datetime(2024, 10, 27, 0, 30, tzinfo=UTC)) == 0  # 01:30 BST
    assert first(rs, now=datetime(2024, 10, 27, 1, 30, tzinfo=UTC)) == 0  # 01:30 GMT
    assert first(rs, now=datetime(2024, 10, 27, 2, 0, tzinfo=UTC)) is None  # 02:00 GMT


def test_naive_now_refused() -> None:
    rs = validate_rules([rule()])
    with pytest.raises(ValueError, match="timezone-aware"):
        rs.evaluate("out", "1", now=datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("document", "index", "field", "message"),
    [
        ("not json", None, None, "not JSON"),
        ('{"a": 1}', None, None, "JSON list"),
        ("[" * 5000 + "]" * 5000, None, None, "not JSON"),
        ([1], 0, None, "must be an object"),
        ([rule(), {"pattern": "1", "command": dial("1@p1")}], 1, "direction", "required"),
        ([rule(direction="sideways")], 0, "direction", "'in' or 'out'"),
        ([rule(priority="1")], 0, "priority", "integer"),
        ([rule(priority=True)], 0, "priority", "integer"),
        ([rule(priority=10**7)], 0, "priority", "integer"),
        ([{"direction": "out", "command": dial("1@p1")}], 0, "pattern", "required"),
        ([rule(pattern_type="glob")], 0, "pattern_type", "'exact', 'prefix' or 'regex'"),
        ([rule("_0.X")], 0, "pattern", "'.' must end the pattern"),
        ([rule(), rule("(", pattern_type="regex")], 1, "pattern", "invalid regex"),
        ([rule(pattern=5)], 0, "pattern", "must be a string"),  # type: ignore[arg-type]
        ([rule(caller_pattern="[", caller_pattern_type="regex")], 0, "caller_pattern", "regex"),
        ([rule(caller_pattern_type="exact")], 0, "caller_pattern_type", "without"),
        ([rule(account="alice")], 0, "account", "only 'in' rules"),
        ([rule(provider="p1")], 0, "provider", "only 'in' rules"),
        ([rule(direction="in", account="")], 0, "account", "1–64"),
        ([rule(time="Xx;09:00-10:00")], 0, "time", "unknown day"),
        ([rule(time="M;09:00-09:00")], 0, "time", "empty time window"),
        ([rule(time=5)], 0, "time", "must be a string"),
        ([rule(enabled="yes")], 0, "enabled", "true or false"),
        ([rule(colour="red")], 0, "colour", "unknown field"),
        ([{"direction": "out", "pattern": "1"}], 0, "command", "required"),
        ([rule(command="dial")], 0, "command", "must be an object"),
        ([rule(command={"type": "ring"})], 0, "command.type", "dial, reject"),
        ([rule(command={"type": "dial"})], 0, "command.dial_string", "required"),
        ([rule(command=dial("1@p1[dt=999]"))], 0, "command.dial_string", "option 'dt'"),
        ([rule(command=dial("${nope}@p1"))], 0, "command.dial_string", "unknown variable"),
        ([rule(command=dial("a&&b"))], 0, "command.dial_string", "empty leg"),
        ([rule(command=dial("1@p1", ring_seconds=181))], 0, "command.ring_seconds", "1–180"),
        ([rule(command=dial("1@p1", answered_limit=0))], 0, "command.answered_limit", "1–"),
        ([rule(command=dial("1@p1", extra=1))], 0, "command.extra", "unknown field"),
        ([rule(command={"type": "reject", "code": 399})], 0, "command.code", "400–699"),
        ([rule(command={"type": "reject", "code": 700})], 0, "command.code", "400–699"),
        ([rule(command={"type": "reject"})], 0, "command.code", "400–699"),
        (
            [rule(command={"type": "reject", "code": 403, "reason": "a\r\nb"})],
            0,
            "command.reason",
            "control character",
        ),
        ([rule(command={"type": "script", "name": "../x y"})], 0, "command.name", "1–64"),
        ([rule(command={"type": "flow"})], 0, "command.id", "1–64"),
    ],
)
def test_validation_errors(
    document: object, index: int | None, field: str | None, message: str
) -> None:
    with pytest.raises(RuleError) as info:
        validate_rules(document)  # type: ignore[arg-type]
    error = info.value
    assert (error.index, error.field) == (index, field)
    assert message in str(error)
    if index is not None:
        assert f"rule {index}" in str(error)
    if field is not None:
        assert f"field '{field}'" in str(error)


def test_dial_string_checked_against_known_providers() -> None:
    validate_rules([rule(command=dial("p1"))])  # providers unknown: any bare word accepted
    validate_rules([rule(command=dial("P1|${dst}@p2"))], providers=["p1", "p2"])
    with pytest.raises(RuleError, match="unknown provider 'p3'"):
        validate_rules([rule(command=dial("p3"))], providers=["p1"])


def test_unknown_timezone() -> None:
    with pytest.raises(RuleError, match="unknown time zone"):
        validate_rules([], timezone="Mars/Olympus")


def test_limits() -> None:
    with pytest.raises(RuleError, match="more than 1000 rules"):
        validate_rules([rule()] * 1001)
    with pytest.raises(RuleError, match="larger than"):
        validate_rules(" " * 1_000_001)


def test_round_trip_defaults_omitted() -> None:
    rs = validate_rules([rule()])
    assert json.loads(rs.to_json()) == [
        {
            "direction": "out",
            "priority": 0,
            "pattern_type": "prefix",
            "pattern": "_!",
            "command": {"type": "dial", "dial_string": "${dst}@p1"},
        }
    ]
    full = rule(
        direction="in",
        priority=-2,
        pattern_type="regex",
        pattern="1.*",
        caller_pattern_type="exact",
        caller_pattern="x",
        account="a",
        provider="p",
        time="sa,su;22:00-02:00",
        enabled=False,
        description="weekend nights",
        command={"type": "reject", "code": 480, "reason": "Later"},
    )
    rs = validate_rules([full], timezone="Europe/London")
    assert validate_rules(rs.to_json(), timezone="Europe/London") == rs
    assert json.loads(rs.to_json())[0]["time"] == "Sa Su;22:00-02:00"
