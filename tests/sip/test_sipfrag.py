"""message/sipfrag bodies (RFC 3420) for REFER progress NOTIFYs (RFC 3515 §2.4.5)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import TOKEN_CHARS
from sipswitch.sip.sipfrag import (
    SIPFRAG_CONTENT_TYPE,
    SIPFRAG_MEDIA_TYPE,
    SipFrag,
    build_sipfrag,
    parse_sipfrag,
)


def test_content_type() -> None:
    assert SIPFRAG_CONTENT_TYPE == "message/sipfrag;version=2.0"
    assert SIPFRAG_CONTENT_TYPE.startswith(SIPFRAG_MEDIA_TYPE)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (100, b"SIP/2.0 100 Trying\r\n"),
        (180, b"SIP/2.0 180 Ringing\r\n"),
        (200, b"SIP/2.0 200 OK\r\n"),
        (503, b"SIP/2.0 503 Service Unavailable\r\n"),
    ],
)
def test_build_status_only(status: int, expected: bytes) -> None:
    assert build_sipfrag(status) == expected


def test_build_with_reason_and_headers() -> None:
    body = build_sipfrag(486, "Busy Here Now", [("Retry-After", "60"), ("Warning", '399 x "y"')])
    assert body == b'SIP/2.0 486 Busy Here Now\r\nRetry-After: 60\r\nWarning: 399 x "y"\r\n'
    frag = parse_sipfrag(body)
    assert (frag.status, frag.reason) == (486, "Busy Here Now")
    assert frag.headers == (("Retry-After", "60"), ("Warning", '399 x "y"'))
    assert frag.header("retry-after") == "60"
    assert frag.is_response and frag.is_final


def test_parse_notify_bodies() -> None:
    trying = parse_sipfrag(b"SIP/2.0 100 Trying\r\n")
    assert (trying.status, trying.reason, trying.headers) == (100, "Trying", ())
    assert not trying.is_final
    # no trailing CRLF, an empty reason phrase, and lower-case version are read too
    assert parse_sipfrag(b"SIP/2.0 200 OK").status == 200
    assert parse_sipfrag(b"SIP/2.0 183 ").reason == ""
    assert parse_sipfrag(b"sip/2.0 200 OK\r\n").status == 200


def test_parse_request_line_fragment() -> None:
    data = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
    frag = parse_sipfrag(data)
    assert frag.status is None and not frag.is_response and not frag.is_final
    assert (frag.method, frag.uri) == ("INVITE", "sip:bob@biloxi.example.com")
    assert frag.headers == (("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),)
    assert frag.to_bytes() == data


def test_body_round_trip() -> None:
    frag = SipFrag(200, "OK", headers=(("Content-Type", "text/plain"),), body=b"hello\r\n")
    data = frag.to_bytes()
    assert data == b"SIP/2.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    assert parse_sipfrag(data) == frag


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"   ",
        b"Content-Type: text/plain\r\n",  # a start line is mandatory here
        b"SIP/2.0 1000 Huge\r\n",
        b"SIP/2.0 99 Low\r\n",
        b"SIP/2.0 abc OK\r\n",
        b"SIP/3.0 200 OK\r\n",
        b"INVITE sip:a@b SIP/3.0\r\n",
        b"INVITE  sip:a@b SIP/2.0\r\n",
        b"SIP/2.0 200 OK\r\nno colon here\r\n",
        b"SIP/2.0 200 OK\r\nBad Name: x\r\n",
    ],
)
def test_bad_input_raises_parse_error(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_sipfrag(data)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"status": 200, "method": "INVITE", "uri": "sip:a@b"},
        {"status": 700},
        {"status": 200, "reason": "O\r\nK"},
        {"method": "INVITE"},
        {"method": "IN VITE", "uri": "sip:a@b"},
        {"status": 200, "headers": (("X", "a\r\nInjected: yes"),)},
        {"status": 200, "headers": (("Bad Name", "x"),)},
    ],
)
def test_misuse_raises_value_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SipFrag(**kwargs)  # type: ignore[arg-type]


_TOKEN = st.text(alphabet=sorted(TOKEN_CHARS), min_size=1, max_size=12).filter(
    lambda name: name.lower() not in ("l", "content-length")  # framing, not a fragment header
)
_REASON = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\r\n"),
    max_size=30,
)
_VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40
).map(lambda s: s.strip(" \t"))


@settings(max_examples=300)
@given(
    status=st.integers(100, 699),
    reason=_REASON,
    headers=st.lists(st.tuples(_TOKEN, _VALUE), max_size=4),
)
def test_status_round_trip(status: int, reason: str, headers: list[tuple[str, str]]) -> None:
    data = build_sipfrag(status, reason, headers)
    frag = parse_sipfrag(data)
    assert frag.status == status
    assert frag.reason == reason
    assert frag.headers == tuple(headers)
    assert frag.to_bytes() == data


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        frag = parse_sipfrag(data)
    except SipParseError:
        return
    assert isinstance(frag, SipFrag)
    assert (frag.status is None) != (frag.method is None)


_START = st.sampled_from(
    [b"SIP/2.0 200 OK\r\n", b"SIP/2.0 180 Ringing\r\n", b"REFER sip:x SIP/2.0\r\n"]
)


@settings(max_examples=400)
@given(_START, st.binary(max_size=120))
def test_fuzz_after_a_valid_start_line(start: bytes, tail: bytes) -> None:
    try:
        frag = parse_sipfrag(start + tail)
    except SipParseError:
        return
    # whatever parses serializes to something that parses to the same value
    assert parse_sipfrag(frag.to_bytes()) == frag
