"""Fuzz invariant of the message parser: garbage in gives a SipParseError, never anything else."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipswitch.sip.errors import SipParseError
from sipswitch.sip.framing import StreamFramer
from sipswitch.sip.message import Message, Request
from sipswitch.sip.parser import parse_message, validate_request, validate_response

from .torture import load, names

SEEDS = [load(n) for n in names()]


def _exercise(message: Message) -> None:
    """Touch every typed view the upper layers use; each may only raise SipParseError."""
    for view in (
        "call_id", "cseq", "from_", "to", "vias", "contacts", "routes", "record_routes",
        "max_forwards", "expires", "min_expires", "content_type", "allow", "supported",
        "require", "event", "subscription_state", "refer_to", "referred_by", "replaces",
        "refer_sub", "reasons",
    ):  # fmt: skip
        with contextlib.suppress(SipParseError):
            getattr(message, view)
    if isinstance(message, Request):
        with contextlib.suppress(SipParseError):
            _ = message.uri
    message.to_bytes()


def _check(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError as exc:
        assert 400 <= exc.status < 700
        assert "\r" not in exc.reason and "\n" not in exc.reason
        return
    try:
        if isinstance(message, Request):
            validate_request(message)
        else:
            validate_response(message)
    except SipParseError as exc:
        assert exc.message is message
    _exercise(message)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "dup"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] = draw(st.sampled_from(b'\x00\r\n :;,<>"@%=\\\t\xff' + b"aZ9"))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 20))]
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from([b"\r\n", b" ", b";", b",", b"<", b'"', b"%"]))
        elif op == "truncate":
            del data[pos:]
        elif op == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 40))]
    return bytes(data)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_torture_messages(data: bytes) -> None:
    _check(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_stream_framer_never_crashes(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer()
    pos = 0
    try:
        for cut in cuts:
            for item in framer.feed(data[pos : pos + cut]):
                if isinstance(item, bytes):
                    _check(item)
            pos += cut
    except SipParseError:
        pass
