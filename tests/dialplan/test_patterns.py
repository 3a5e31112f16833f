"""Asterisk-style, exact and regex patterns; time windows."""

from __future__ import annotations

from datetime import datetime

import pytest

from sipswitch.services.dialplan import PatternError, PatternType, TimeWindow, compile_pattern


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("_X", ["0", "9"], ["", "a", "10"]),
        ("_Z", ["1", "9"], ["0"]),
        ("_N", ["2", "9"], ["0", "1"]),
        ("x", ["5"], ["55"]),
        ("_NXX", ["200", "999"], ["199", "20", "2000"]),
        ("_[1-5]", ["1", "5"], ["0", "6"]),
        ("_[135]", ["1", "3", "5"], ["2", "4"]),
        ("_[0-37-9]X", ["00", "35", "79"], ["40", "65"]),
        ("_0X.", ["012", "0123456"], ["0", "01", "1234"]),
        ("_0X!", ["01", "0123"], ["0", "1"]),
        ("_0!", ["0", "01", "0123"], ["1"]),
        ("_!", ["", "anything"], []),
        ("_.", ["a", "12"], [""]),
        ("_00[1-9]X.", ["0044123", "00155"], ["0004123", "0044"]),
        ("_*9X", ["*91"], ["*9", "#91"]),
        ("_+44X.", ["+4412"], ["4412", "+44"]),
        ("0044", ["0044"], ["00441"]),
        ("_1-800-NXX-XXXX", ["18002345678"], ["1-800-234-5678", "18001345678"]),
    ],
)
def test_asterisk_patterns(pattern: str, matches: list[str], misses: list[str]) -> None:
    compiled = compile_pattern("prefix", pattern)
    for value in matches:
        assert compiled.matches(value), value
    for value in misses:
        assert not compiled.matches(value), value


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("_0.X", "'.' must end the pattern"),
        ("_!1", "'!' must end the pattern"),
        ("_[1-5", "unclosed '['"),
        ("_[]", "empty set"),
        ("_[a]", "bad character 'a' in set"),
        ("_[5-1]", "bad range '5-1'"),
        ("_[1-]", "bad character '-' in set"),
        ("_1 2", "bad character ' '"),
        ("_", "empty pattern"),
        ("", "empty pattern"),
        ("_" + "X" * 300, "longer than 256"),
    ],
)
def test_bad_asterisk_patterns(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message.replace("[", r"\[").replace(".", r"\.")):
        compile_pattern("prefix", pattern)


def test_exact_and_regex() -> None:
    exact = compile_pattern("exact", "_X.")
    assert exact.matches("_X.")
    assert not exact.matches("12")
    regex = compile_pattern(PatternType.REGEX, r"0(44|33)\d+")
    assert regex.matches("04412")
    assert not regex.matches("x04412")  # fullmatch, not search
    assert not regex.matches("04412x")
    assert not regex.matches("044" + "1" * 300)  # subject length cap


@pytest.mark.parametrize("source", ["(", "[a-", "a{2,1}", "(?P<x>a)(?P<x>b)"])
def test_invalid_regex(source: str) -> None:
    with pytest.raises(PatternError, match="invalid regex"):
        compile_pattern("regex", source)


def test_unknown_type() -> None:
    with pytest.raises(PatternError, match="unknown pattern type 'glob'"):
        compile_pattern("glob", "x")


def test_pattern_equality_ignores_compiled_regex() -> None:
    assert compile_pattern("prefix", "_X.") == compile_pattern("PREFIX", "_X.")


# 2024-01-01 is a Monday
def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute)


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        (
            "M Tu W Th F;09:00-17:00",
            [at(1, 9), at(5, 16, 59)],
            [at(1, 8, 59), at(1, 17), at(6, 12)],
        ),
        ("Sa Su", [at(6, 0), at(7, 23, 59)], [at(1, 12)]),
        (";08:00-09:00", [at(3, 8, 30), at(7, 8)], [at(3, 9)]),
        ("F;22:00-06:00", [at(5, 22), at(6, 5, 59)], [at(5, 21, 59), at(6, 6), at(4, 23)]),
        ("Su;22:00-02:00", [at(7, 23), at(8, 1)], [at(2, 1), at(6, 23)]),
        ("mon,tue;00:00-24:00", [at(1, 0), at(2, 23, 59)], [at(3, 0)]),
    ],
)
def test_time_windows(text: str, inside: list[datetime], outside: list[datetime]) -> None:
    window = TimeWindow.parse(text)
    for when in inside:
        assert window.contains(when), when
    for when in outside:
        assert not window.contains(when), when
    assert TimeWindow.parse(str(window)) == window


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Xx;09:00-10:00", "unknown day 'Xx'"),
        ("M;9-10", "bad time '9'"),
        ("M;09:00", "time must be HH:MM-HH:MM"),
        ("M;09:00-09:00", "empty time window"),
        ("M;24:00-01:00", "time must be HH:MM-HH:MM"),
        ("M;09:60-10:00", "bad time '09:60'"),
        ("M;24:01-10:00", "bad time '24:01'"),
    ],
)
def test_bad_time_windows(text: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        TimeWindow.parse(text)


def test_canonical_time_window() -> None:
    assert str(TimeWindow.parse("f  m,TU;9:00-17:00".replace("9:00", "09:00"))) == (
        "M Tu F;09:00-17:00"
    )
    assert str(TimeWindow.parse("")) == "M Tu W Th F Sa Su;00:00-24:00"
