"""Call-ID steering: every message of a call goes to the worker its Call-ID hashes to."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from sipswitch.sip.builders import new_call_id
from sipswitch.sip.parser import parse_message
from sipswitch.transport.steering import (
    call_id_of,
    call_id_owner,
    owned_call_id,
    owner,
    replaced_call_id,
)


def message(call_id_line: str, *, body: str = "") -> bytes:
    return (
        "INVITE sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
        "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
        f"{call_id_line}\r\nCSeq: 1 INVITE\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def test_long_compact_and_odd_spellings_find_the_same_value() -> None:
    for line in (
        "Call-ID: abc@host",
        "i: abc@host",
        "Call-Id:abc@host",
        "call-id:   abc@host  ",
        "CALL-ID : abc@host",
        "I:\tabc@host",
    ):
        assert call_id_of(message(line)) == b"abc@host", line


def test_the_body_is_not_searched() -> None:
    body = "v=0\r\ni: not-this\r\n"
    assert call_id_of(message("X-Other: 1", body=body)) is None
    assert owner(message("X-Other: 1", body=body), 4) == 0


def test_a_message_without_call_id_belongs_to_the_first_worker() -> None:
    assert owner(b"garbage", 3) == 0
    assert owner(b"", 3) == 0


def test_owner_matches_the_call_id_hash() -> None:
    for n in range(50):
        cid = f"{n}-call@127.0.0.1"
        assert owner(message(f"Call-ID: {cid}"), 2) == call_id_owner(cid, 2)
        assert owner(message(f"Call-ID: {cid}"), 1) == 0


def test_both_workers_get_a_share() -> None:
    owners = [call_id_owner(new_call_id(), 2) for _ in range(400)]
    assert 120 < owners.count(0) < 280


def test_made_call_ids_belong_to_their_maker() -> None:
    for index, workers in itertools.product(range(3), (1, 3)):
        if index < workers:
            made = owned_call_id(new_call_id, index, workers)
            assert call_id_owner(made, workers) == index


call_ids = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
    min_size=1,
    max_size=60,
)


@given(call_ids, st.sampled_from(["Call-ID", "i", "call-id", "CALL-ID", "Call-Id"]))
def test_steering_agrees_with_the_parser(value: str, name: str) -> None:
    data = message(f"{name}: {value}")
    assert call_id_of(data) == parse_message(data).call_id.encode()


@given(st.binary(max_size=400), st.integers(min_value=1, max_value=8))
def test_any_bytes_get_an_owner(data: bytes, workers: int) -> None:
    assert 0 <= owner(data, workers) < workers


def test_the_replaced_call_id_of_an_invite() -> None:
    invite = message("Call-ID: new@h").replace(
        b"CSeq:", b"Replaces: old@h ;to-tag=1;from-tag=2\r\nCSeq:"
    )
    assert replaced_call_id(invite) == b"old@h"
    assert replaced_call_id(invite.replace(b"Replaces:", b"replaces:")) == b"old@h"
    assert replaced_call_id(message("Call-ID: new@h")) is None
    bye = invite.replace(b"INVITE sip:", b"BYE sip:")
    assert replaced_call_id(bye) is None  # only an INVITE replaces a dialog


@given(st.binary(max_size=400))
def test_replaces_search_takes_any_bytes(data: bytes) -> None:
    found = replaced_call_id(b"INVITE " + data)
    assert found is None or isinstance(found, bytes)
