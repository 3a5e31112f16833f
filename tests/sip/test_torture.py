"""RFC 4475 §3: what the pure core makes of every torture message.

Outcomes here are the core's: a parsed (and validated) message, a rejection with the status a
server answers with, or a response that is dropped. Verdicts that belong to a transaction user
(501 for an unknown method, 420, 415, the registrar's checks) are asserted where those live; the
core must parse those messages cleanly so the TU can decide.
"""

from __future__ import annotations

import hashlib

import pytest

from sipswitch.sip.address import sip_uri_of
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request, Response
from sipswitch.sip.parser import parse_message, validate_request, validate_response
from sipswitch.sip.uri import SipUri

from .torture import DATA, load, manifest, names

REJECT = {
    "badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400, "quotbal": 400,
    "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400, "escruri": 400,
    "badaspec": 400, "baddn": 400, "badvers": 505, "mismatch01": 400, "mismatch02": 400,
    "insuf": 400, "unkscm": 416, "novelsc": 416, "multi01": 400, "mcl01": 400,
}  # fmt: skip
DROP = {"scalarlg", "bigcode"}  # malformed responses: nothing is sent back


def _process(data: bytes) -> Request | Response:
    message = parse_message(data)
    if isinstance(message, Request):
        validate_request(message)
    else:
        validate_response(message)
    return message


def test_data_is_byte_exact() -> None:
    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((DATA / name.lstrip("*")).read_bytes()).hexdigest() == digest


def test_manifest_covers_all_49() -> None:
    assert len(manifest()) == 49


@pytest.mark.parametrize("name", names())
def test_core_outcome(name: str) -> None:
    data = load(name)
    if name in REJECT:
        with pytest.raises(SipParseError) as info:
            _process(data)
        assert info.value.status == REJECT[name]
        assert info.value.reason  # a phrase naming the fault
        if info.value.status != 505 and name != "insuf":
            assert info.value.message is not None  # enough was read to answer
    elif name in DROP:
        with pytest.raises(SipParseError) as info:
            _process(data)
        assert info.value.message is None or isinstance(info.value.message, Response)
    else:
        message = _process(data)
        again = parse_message(message.to_bytes())
        assert list(again.header_items()) == [
            (n, v) for n, v in message.header_items() if n.lower() not in ("content-length", "l")
        ] + [("Content-Length", str(len(message.body)))]
        assert again.body == message.body


def test_escapes_decoded_in_uris() -> None:
    req = _process(load("esc01"))
    assert isinstance(req, Request) and isinstance(req.uri, SipUri)
    assert req.uri.user == "sips:user@example.com"
    assert sip_uri_of(req.to).user == "user"
    assert sip_uri_of(req.from_).user == "I have spaces"
    contact = sip_uri_of(req.contacts[0])
    assert contact.user == "caller"
    assert contact.param("lr") == ""
    assert contact.param("name") == "value%41"


def test_escaped_null_does_not_truncate() -> None:
    req = _process(load("escnull"))
    assert sip_uri_of(req.to).user == "null-\x00-null"
    users = [sip_uri_of(c).user for c in req.contacts]
    assert users == ["\x00", "\x00\x00"]


def test_semicolon_in_user() -> None:
    req = _process(load("semiuri"))
    assert isinstance(req, Request) and isinstance(req.uri, SipUri)
    assert req.uri.user == "user;par=u@example.net"
    assert req.uri.params == ()


def test_escaped_method_is_just_unknown() -> None:
    req = _process(load("esc02"))
    assert isinstance(req, Request)
    assert req.method == "RE%47IST%45R"


def test_trailing_request_after_content_length_is_ignored() -> None:
    req = _process(load("dblreq"))
    assert isinstance(req, Request) and req.method == "REGISTER" and req.body == b""


def test_binary_body_framed_by_content_length() -> None:
    req = _process(load("mpart01"))
    assert len(req.body) == int(req.get("Content-Length") or -1)
    assert b"\x00" in req.body


def test_contact_params_header_vs_uri() -> None:
    bare = _process(load("cparam01")).contacts[0]
    assert bare.param("unknownparam") == ""
    assert sip_uri_of(bare).params == ()
    bracketed = _process(load("cparam02")).contacts[0]
    assert bracketed.params == ()
    assert sip_uri_of(bracketed).param("unknownparam") == ""


def test_contact_keeps_escaped_route_header() -> None:
    contact = sip_uri_of(_process(load("regescrt")).contacts[0])
    assert contact.header("Route") == "<sip:sip.example.com>"


def test_contact_with_headers_outside_brackets_is_rejected() -> None:
    req = _process(load("regbadct"))
    with pytest.raises(SipParseError) as info:
        _ = req.contacts
    assert info.value.status == 400


def test_non_sip_to_is_visible_to_a_registrar() -> None:
    req = _process(load("unksm2"))
    with pytest.raises(SipParseError):
        sip_uri_of(req.to)


def test_rfc2543_invite_parses_without_branch_tag_or_length() -> None:
    req = _process(load("inv2543"))
    assert not req.top_via.is_rfc3261_branch
    assert req.from_.tag is None
    assert req.max_forwards is None


def test_branch_of_only_the_cookie_is_not_rfc3261() -> None:
    assert not _process(load("badbranch")).top_via.is_rfc3261_branch


def test_zero_max_forwards_parses() -> None:
    assert _process(load("zeromf")).max_forwards == 0


def test_reasonless_and_unicode_reason_responses() -> None:
    noreason = _process(load("noreason"))
    assert isinstance(noreason, Response) and noreason.status == 100 and noreason.reason == ""
    unreason = _process(load("unreason"))
    assert isinstance(unreason, Response) and unreason.status == 200
    assert "простое" in unreason.reason


def test_unknown_transports_in_via_accepted() -> None:
    vias = _process(load("transports")).vias
    assert len(vias) >= 3


def test_long_values_parse() -> None:
    req = _process(load("longreq"))
    assert len(req.vias) > 10
    assert len(str(req.to)) > 100
