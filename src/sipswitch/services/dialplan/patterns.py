"""Rule-dialplan patterns: exact, Asterisk-style and regex number patterns; time windows.

Asterisk letters (``_`` leading marker optional)::

    X  any digit 0-9        Z  1-9        N  2-9
    [1-5] [135] [0-37-9]    a set of digits (ranges and singles)
    .  one or more of anything (only at the end)
    !  zero or more of anything (only at the end)
    -  ignored (visual separator)

Any other digit, letter, ``*``, ``#`` or ``+`` is literal. As in Asterisk the pattern covers the
whole number: ``_0XXX`` matches four digits, ``_0X.`` anything from two digits on. Regexes use
:func:`re.fullmatch`, are at most :data:`MAX_PATTERN` characters, and never see a subject longer
than :data:`MAX_SUBJECT` (no match), which bounds backtracking cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

MAX_PATTERN = 256
MAX_SUBJECT = 256
_LITERAL = re.compile(r"[0-9A-Za-z*#+]")
_CLASSES = {"x": "[0-9]", "z": "[1-9]", "n": "[2-9]"}


class PatternError(ValueError):
    """A pattern that cannot be compiled; the message says why."""


class PatternType(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled pattern; equal when type and text are equal."""

    type: PatternType
    text: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, value: str) -> bool:
        if self.type is PatternType.EXACT:
            return value == self.text
        if len(value) > MAX_SUBJECT or self.regex is None:
            return False
        return self.regex.fullmatch(value) is not None

    def __str__(self) -> str:
        return f"{self.type}:{self.text}"


def compile_pattern(kind: PatternType | str, text: str) -> Pattern:
    """Validate and compile once; raises :class:`PatternError`."""
    try:
        ptype = PatternType(kind.lower() if isinstance(kind, str) else kind)
    except ValueError:
        raise PatternError(f"unknown pattern type '{kind}'") from None
    if not text:
        raise PatternError("empty pattern")
    if len(text) > MAX_PATTERN:
        raise PatternError(f"pattern longer than {MAX_PATTERN} characters")
    if ptype is PatternType.EXACT:
        return Pattern(ptype, text)
    source = text if ptype is PatternType.REGEX else asterisk_to_regex(text)
    try:
        regex = re.compile(source)
    except (re.error, RecursionError, OverflowError) as exc:
        raise PatternError(f"invalid regex: {exc}") from None
    return Pattern(ptype, text, regex)


def asterisk_to_regex(text: str) -> str:
    """Translate an Asterisk pattern into an equivalent regex source (for :func:`re.fullmatch`)."""
    body = text[1:] if text.startswith("_") else text
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        low = ch.lower()
        if ch in ".!":
            if i != len(body) - 1:
                raise PatternError(f"'{ch}' must end the pattern (position {i + 1})")
            out.append(".+" if ch == "." else ".*")
        elif low in _CLASSES:
            out.append(_CLASSES[low])
        elif ch == "[":
            end = body.find("]", i)
            if end < 0:
                raise PatternError(f"unclosed '[' at position {i + 1}")
            out.append(_digit_set(body[i + 1 : end], i + 1))
            i = end
        elif ch == "-":
            pass
        elif _LITERAL.fullmatch(ch):
            out.append(re.escape(ch))
        else:
            raise PatternError(f"bad character {ch!r} at position {i + 1}")
        i += 1
    if not out:
        raise PatternError("empty pattern")
    return "".join(out)


def _digit_set(body: str, where: int) -> str:
    if not body:
        raise PatternError(f"empty set at position {where}")
    chars: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if not ch.isascii() or not ch.isdigit():
            raise PatternError(f"bad character {ch!r} in set at position {where}")
        if i + 2 < len(body) and body[i + 1] == "-":
            hi = body[i + 2]
            if not hi.isascii() or not hi.isdigit() or hi < ch:
                raise PatternError(f"bad range '{ch}-{hi}' at position {where}")
            chars.append(f"{ch}-{hi}")
            i += 3
        else:
            chars.append(ch)
            i += 1
    return f"[{''.join(chars)}]"


_DAYS = ("M", "Tu", "W", "Th", "F", "Sa", "Su")
_DAY_NAMES = {
    **{d.lower(): i for i, d in enumerate(_DAYS)},
    **{d: i for i, d in enumerate(("mo", "tu", "we", "th", "fr", "sa", "su"))},
    **{d: i for i, d in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
}
_CLOCK = re.compile(r"([01][0-9]|2[0-4]):([0-5][0-9])")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """SIPSorcery time pattern ``"M Tu W Th F Sa Su;HH:MM-HH:MM"`` in the owner's local time.

    ``days`` are weekday numbers (Monday 0); ``start``/``end`` minutes since midnight, ``end``
    up to 1440 (``24:00``). An empty day list means every day; no time part means all day.
    A window whose end is before its start crosses midnight: it belongs to the day it starts
    on (``F;22:00-02:00`` covers Friday 22:00 to Saturday 02:00). Local wall-clock time is
    compared, so across DST changes a window follows the clock on the wall.
    """

    days: frozenset[int]
    start: int = 0
    end: int = 1440

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """Parse a time pattern; raises :class:`PatternError`."""
        days_text, semi, times = text.partition(";")
        days: set[int] = set()
        for token in days_text.replace(",", " ").split():
            day = _DAY_NAMES.get(token.lower())
            if day is None:
                raise PatternError(f"unknown day '{token}' (use M Tu W Th F Sa Su)")
            days.add(day)
        start, end = 0, 1440
        if semi:
            first, dash, second = times.strip().partition("-")
            start = _minutes(first.strip())
            end = _minutes(second.strip()) if dash else -1
            if end < 0 or start == 1440:
                raise PatternError("time must be HH:MM-HH:MM")
            if start == end:
                raise PatternError("empty time window (use 00:00-24:00 for all day)")
        return cls(frozenset(days) if days else frozenset(range(7)), start, end)

    def contains(self, local: datetime) -> bool:
        """Whether a local (already zone-converted) time falls in the window."""
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute < self.end
        )

    def __str__(self) -> str:
        days = " ".join(_DAYS[d] for d in sorted(self.days))
        return f"{days};{_clock(self.start)}-{_clock(self.end)}"


def _minutes(text: str) -> int:
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise PatternError(f"bad time '{text}' (use HH:MM)")
    value = int(match.group(1)) * 60 + int(match.group(2))
    if value > 1440:
        raise PatternError(f"bad time '{text}'")
    return value


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
