"""Property and fuzz tests: the parser raises only SdpParseError, and descriptions round-trip."""

from __future__ import annotations

import contextlib
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipswitch.sdp import (
    Attribute,
    Bandwidth,
    Connection,
    LocalMedia,
    Media,
    OfferAnswerError,
    Origin,
    SdpParseError,
    SessionDescription,
    Timing,
    build_answer,
    build_offer,
    check_answer,
    is_on_hold,
    media_summary,
    nat_fixup,
    parse_sdp,
)
from tests.sdp.samples import ALL

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LOCAL = LocalMedia("198.51.100.7", 30000, "1", 1)

tokens = st.text(string.ascii_letters + string.digits + "-._+*!", min_size=1, max_size=10)
numbers = st.integers(0, 2**64 - 1)
#: Free text for a field: no CR, LF or NUL, no lone surrogates.
texts = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00"), max_size=20
)


def exercise(sdp: SessionDescription) -> None:
    """Everything the call layer does with a peer's description must not raise."""
    assert parse_sdp(bytes(sdp)) == sdp
    answer = build_answer(sdp, LOCAL)
    assert len(answer.sdp.media) == len(sdp.media)
    assert parse_sdp(bytes(answer.sdp)) == answer.sdp
    with contextlib.suppress(OfferAnswerError):
        check_answer(build_offer(LOCAL), sdp)
    nat_fixup(sdp, "203.0.113.1")
    is_on_hold(sdp)
    media_summary(sdp)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_parse_or_raise_parse_error(data: bytes) -> None:
    try:
        sdp = parse_sdp(data)
    except SdpParseError:
        return
    exercise(sdp)


@FUZZ
@given(st.text(max_size=300))
def test_random_text_parse_or_raise_parse_error(text: str) -> None:
    try:
        sdp = parse_sdp("v=0\no=- 1 1 IN IP4 h\n" + text)
    except SdpParseError:
        return
    exercise(sdp)


line_soup = st.lists(
    st.tuples(st.sampled_from("vosiuepcbtrzkamx"), st.sampled_from(["", " ", "  "]), texts),
    max_size=15,
)


@FUZZ
@given(line_soup)
def test_plausible_lines_parse_or_raise_parse_error(lines: list[tuple[str, str, str]]) -> None:
    text = "v=0\r\no=- 1 1 IN IP4 h\r\n" + "".join(f"{k}={p}{v}\r\n" for k, p, v in lines)
    try:
        sdp = parse_sdp(text)
    except SdpParseError:
        return
    exercise(sdp)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(sorted(ALL.values()))).split(b"\r\n")
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "swap", "insert", "flip", "cut"]))
        line = lines[index]
        if action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, line)
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], line
        elif action == "insert":
            lines.insert(index, draw(st.binary(max_size=20)))
        elif action == "flip" and line:
            at = draw(st.integers(0, len(line) - 1))
            lines[index] = line[:at] + bytes([draw(st.integers(0, 255))]) + line[at + 1 :]
        elif action == "cut":
            lines[index] = line[: draw(st.integers(0, len(line)))]
        if not lines:
            lines = [b""]
    return b"\r\n".join(lines)


@FUZZ
@given(mutated())
def test_mutated_samples_parse_or_raise_parse_error(data: bytes) -> None:
    try:
        sdp = parse_sdp(data)
    except SdpParseError:
        return
    exercise(sdp)


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    kind = draw(st.sampled_from(["IP4", "IP6", "other"]))
    address = draw(tokens)
    if kind == "IP4":
        ttl = draw(st.none() | st.integers(0, 255))
        count = None if ttl is None else draw(st.none() | st.integers(1, 10**6))
        return Connection(address, "IN", "IP4", ttl, count)
    if kind == "IP6":
        return Connection(address, "IN", "IP6", None, draw(st.none() | st.integers(1, 10**6)))
    return Connection(address, draw(tokens), draw(tokens.filter(lambda t: t not in {"IP4", "IP6"})))


attributes = st.builds(Attribute, tokens, st.none() | texts)
bandwidths = st.builds(Bandwidth, tokens, numbers)
media = st.builds(
    Media,
    media=tokens,
    port=st.integers(0, 65535),
    proto=tokens,
    formats=st.lists(tokens, max_size=5).map(tuple),
    port_count=st.none() | st.integers(1, 65535),
    information=st.none() | texts,
    connections=st.lists(connections(), max_size=2).map(tuple),
    bandwidths=st.lists(bandwidths, max_size=2).map(tuple),
    key=st.none() | texts,
    attributes=st.lists(attributes, max_size=6).map(tuple),
)
descriptions = st.builds(
    SessionDescription,
    origin=st.builds(Origin, tokens, tokens, numbers, tokens, tokens, tokens),
    session_name=texts,
    information=st.none() | texts,
    uri=st.none() | texts,
    emails=st.lists(texts, max_size=2).map(tuple),
    phones=st.lists(texts, max_size=2).map(tuple),
    connection=st.none() | connections(),
    bandwidths=st.lists(bandwidths, max_size=2).map(tuple),
    timings=st.lists(
        st.builds(Timing, numbers, numbers, st.lists(texts, max_size=2).map(tuple)),
        min_size=1,
        max_size=2,
    ).map(tuple),
    time_zones=st.none() | texts,
    key=st.none() | texts,
    attributes=st.lists(attributes, max_size=5).map(tuple),
    media=st.lists(media, max_size=4).map(tuple),
)


@FUZZ
@given(descriptions)
def test_generated_descriptions_round_trip(sdp: SessionDescription) -> None:
    data = bytes(sdp)
    assert parse_sdp(data) == sdp
    assert parse_sdp(data.replace(b"\r\n", b"\n")) == sdp
    assert bytes(parse_sdp(data)) == data
    exercise(sdp)
