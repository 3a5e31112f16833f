"""validate_script: problems with line numbers, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.services.dialplan.sandbox import ScriptProblem, validate_script
from sipswitch.services.dialplan.sandbox.policy import MAX_SOURCE_BYTES
from sipswitch.services.dialplan.sandbox.rules import FacadeError, check_header_name


def test_the_transfer_example_is_valid() -> None:
    source = (
        'sys.log("blind transfer starting...")\n'
        'if req.uri.user == "hold":\n    sys.dial("")\nelse:\n'
        '    sys.dial(f"{req.uri.user}@local")\n'
    )
    assert validate_script(source) == []


def test_allowed_imports_are_valid() -> None:
    assert validate_script("import re, json, math, datetime, time\nfrom math import sqrt") == []


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("x = 1\ny = (\n", 2, "never closed"),
        ("x = 1\nimport os\n", 2, '"os" is not allowed'),
        ("from subprocess import run", 1, '"subprocess" is not allowed'),
        ("import sys", 1, '"sys" is not allowed'),
        ("\n\nx = ().__class__", 3, "__class__"),
        ("try:\n    pass\nexcept:\n    pass", 3, "bare"),
        ("open('x')", 1, '"open"'),
        ("class A:\n    pass", 1, "class definitions"),
        ("x = Exception.mro()", 1, '"mro"'),
        ("def g():\n    yield 1\nx = g().gi_frame", 3, "gi_frame"),
    ],
)
def test_problems_name_the_line(source: str, line: int, fragment: str) -> None:
    problems = validate_script(source)
    assert problems, source
    assert problems[0].line == line
    assert fragment in problems[0].message
    assert str(problems[0]).startswith(f"line {line}: ")


def test_oversized_and_odd_sources() -> None:
    assert validate_script("x = 1\n" * (MAX_SOURCE_BYTES // 6 + 1))[0].line == 0
    assert validate_script("x = '\x00'")[0] == ScriptProblem(0, "script contains a NUL character")
    assert validate_script("-" * 100000 + "1")  # too deep: a problem, not a crash
    assert validate_script("(" * 300 + ")" * 300)


def test_core_headers_are_refused() -> None:
    for name in ("Via", "via", "CALL-ID", "i", "Record-Route", "Max-Forwards", "Content-Length"):
        with pytest.raises(FacadeError):
            check_header_name(name)
    assert check_header_name("X-Account") == "X-Account"
    with pytest.raises(FacadeError):
        check_header_name("X-Bad\r\nVia")


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_validate_never_raises(source: str) -> None:
    problems = validate_script(source)
    assert all(isinstance(p, ScriptProblem) and p.line >= 0 for p in problems)


@settings(max_examples=200)
@given(
    st.lists(
        st.sampled_from(
            ["x = 1", "import os", "if x:", "    pass", "sys.dial('a')", "def f(", ")", "__a", "'"]
        ),
        max_size=8,
    )
)
def test_validate_never_raises_on_code_like_text(lines: list[str]) -> None:
    validate_script("\n".join(lines))
