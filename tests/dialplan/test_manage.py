"""Validation before saving: scripts and rule documents, each problem with its line and reason."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.services.dialplan.manage import Problem, validate_dialplan

TRANSFER = """\
sys.log("blind transfer starting...")
if req.uri.user == "hold":
    sys.dial("")
else:
    sys.dial(f"{req.uri.user}@local")
"""


def rule(**fields: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "direction": "out",
        "pattern": "_0X.",
        "command": {"type": "dial", "dial_string": "${dst}@p1"},
    }
    doc.update(fields)
    return doc


def test_the_seed_transfer_script_is_valid() -> None:
    assert validate_dialplan("script", TRANSFER) == []


def test_script_syntax_error_has_its_line() -> None:
    problems = validate_dialplan("script", 'sys.log("a")\nif x\n    sys.dial("1@local")\n')
    assert len(problems) == 1
    assert problems[0].line == 2
    assert str(problems[0]).startswith("line 2: ")


def test_script_policy_violations_have_their_lines() -> None:
    source = 'sys.log("ok")\nimport os\nx = sys.__class__\n'
    problems = validate_dialplan("script", source)
    lines = {p.line for p in problems}
    assert lines == {2, 3}
    assert any("os" in p.message for p in problems)


def test_oversized_script_is_refused_without_a_line() -> None:
    problems = validate_dialplan("script", "x = 1\n" * 20000)
    assert problems and problems[0].line == 0 and "bytes" in problems[0].message


def test_valid_rules() -> None:
    doc = json.dumps([rule(), rule(direction="in", provider="p1", pattern="_X.")], indent=2)
    assert validate_dialplan("rules", doc, timezone="Europe/London", providers=["p1"]) == []


def test_json_syntax_error_has_its_line() -> None:
    problems = validate_dialplan("rules", '[\n  {"direction": "out",\n  "pattern" "1"}\n]')
    assert len(problems) == 1
    assert problems[0].line == 3 and problems[0].message.startswith("not JSON")


def test_rule_error_names_rule_field_and_line() -> None:
    bad = rule(command={"type": "dial", "dial_string": "${dst}@p1"})
    bad["pattern_type"] = "glob"
    text = json.dumps([rule(), bad], indent=2)
    [problem] = validate_dialplan("rules", text, providers=["p1"])
    assert "rule 1" in problem.message and "pattern_type" in problem.message
    assert text.splitlines()[problem.line - 1].strip().startswith('"pattern_type"')


def test_command_field_error_points_into_the_command() -> None:
    text = json.dumps([rule(), rule(command={"type": "dial", "dial_string": "p9"})], indent=2)
    [problem] = validate_dialplan("rules", text, providers=["p1"])
    assert "command.dial_string" in problem.message
    assert text.splitlines()[problem.line - 1].strip().startswith('"dial_string"')


def test_rule_without_field_points_at_the_rule() -> None:
    text = (
        '[\n  {"direction": "out", "pattern": "1",\n'
        '   "command": {"type": "reject", "code": 486}},\n  7\n]'
    )
    [problem] = validate_dialplan("rules", text)
    assert problem.line == 4 and "rule 1" in problem.message


def test_document_level_errors_have_no_line() -> None:
    assert validate_dialplan("rules", "{}")[0].line == 0
    [problem] = validate_dialplan("rules", "[]", timezone="Nowhere/Town")
    assert problem == Problem(0, "unknown time zone 'Nowhere/Town'")


def test_unknown_kind() -> None:
    [problem] = validate_dialplan("lua", "x")
    assert problem.line == 0 and "script or rules" in problem.message


@settings(max_examples=300)
@given(st.text(max_size=300), st.sampled_from(["script", "rules"]))
def test_never_raises(source: str, kind: str) -> None:
    for problem in validate_dialplan(kind, source):
        assert problem.line >= 0 and problem.message


@settings(max_examples=200)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"direction": st.sampled_from(["in", "out", "up"]), "pattern": st.text(max_size=8)},
            optional={"priority": st.integers(), "command": st.just({"type": "x"})},
        ),
        max_size=5,
    )
)
def test_rule_problem_lines_are_inside_the_text(doc: list[dict[str, object]]) -> None:
    text = json.dumps(doc, indent=1)
    for problem in validate_dialplan("rules", text):
        assert 0 <= problem.line <= text.count("\n") + 1
