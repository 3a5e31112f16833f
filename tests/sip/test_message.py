"""The message model, parser and serializer: headers, compact forms, folding, framing."""

from __future__ import annotations

import pytest

from sipswitch.sip.builders import (
    RandomPool,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    random_hex,
)
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.framing import FramingError, KeepAlive, StreamFramer
from sipswitch.sip.message import Request, Response
from sipswitch.sip.parser import parse_message, parse_request, validate_request
from sipswitch.sip.uri import SipUri

BASE = (
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport, SIP/2.0/TCP proxy.example.com\r\n"
    "Via: SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKdef;received=192.0.2.9\r\n"
    "Max-Forwards: 70\r\n"
    'f: "A. G. Bell" <sip:agb@bell.example.com>;tag=a48s\r\n'
    "t: Bob <sip:bob@example.com>\r\n"
    "i: call-1@10.0.0.1\r\n"
    "CSeq: 7 INVITE\r\n"
    "m: <sip:agb@10.0.0.1:5060>;expires=60;q=0.5, sip:agb2@10.0.0.2\r\n"
    "Route: <sip:p1.example.com;lr>,\r\n <sip:p2.example.com;lr>\r\n"
    "Record-Route: <sip:rr.example.com;lr>\r\n"
    "Allow: INVITE, ACK\r\n"
    "Allow: BYE\r\n"
    "k: replaces, norefersub\r\n"
    "X-Odd-Header:   keep   spacing  inside \r\n"
    "Refer-To: <sip:carol@example.com?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>\r\n"
    "Event: refer;id=93\r\n"
    "Subscription-State: terminated;reason=noresource\r\n"
    'Reason: SIP;cause=200;text="Call completed elsewhere"\r\n'
    "Refer-Sub: false\r\n"
    "Replaces: 425928@bobster.example.org;to-tag=7743;from-tag=6472\r\n"
    "c: application/sdp\r\n"
    "l: 4\r\n"
    "\r\n"
    "v=0\r\n"
)


def _invite() -> Request:
    return parse_request(BASE.encode())


def test_typed_views() -> None:
    req = _invite()
    assert [v.branch for v in req.vias] == ["z9hG4bKabc", None, "z9hG4bKdef"]
    assert req.top_via.rport_requested and req.top_via.port == 5060
    assert req.vias[1].transport == "TCP" and req.vias[1].port is None
    assert req.vias[2].host == "[2001:db8::9]" and req.vias[2].received == "192.0.2.9"
    assert req.from_.display_name == "A. G. Bell" and req.from_.tag == "a48s"
    assert req.to.display_name == "Bob" and req.to.tag is None
    assert req.call_id == "call-1@10.0.0.1"
    assert (req.cseq.seq, req.cseq.method) == (7, "INVITE")
    assert [c.expires for c in req.contacts] == [60, None]
    assert [c.q for c in req.contacts] == [0.5, 1.0]
    assert [str(r.uri) for r in req.routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert len(req.record_routes) == 1
    assert req.allow == ["INVITE", "ACK", "BYE"]
    assert req.supported == ["replaces", "norefersub"]
    assert req.get("x-odd-header") == "keep   spacing  inside"
    refer_to = req.refer_to
    assert refer_to is not None and isinstance(refer_to.uri, SipUri)
    assert refer_to.uri.header("Replaces") == "abc;to-tag=1;from-tag=2"
    assert req.event is not None and req.event.value == "refer" and req.event.param("id") == "93"
    state = req.subscription_state
    assert state is not None and (state.state, state.reason) == ("terminated", "noresource")
    assert [(r.protocol, r.cause, r.text) for r in req.reasons] == [
        ("SIP", 200, "Call completed elsewhere")
    ]
    assert req.refer_sub is False
    replaces = req.replaces
    assert replaces is not None and (replaces.call_id, replaces.to_tag) == (
        "425928@bobster.example.org",
        "7743",
    )
    assert req.content_type == "application/sdp"
    assert req.body == b"v=0\r"


def test_auth_headers_typed() -> None:
    text = BASE.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\n"
        'Authorization: Digest username="101", realm="x", nonce="n", uri="sip:x", '
        'response="abc", algorithm=SHA-256\r\n'
        'WWW-Authenticate: Digest realm="x", nonce="n", algorithm=SHA-256, qop="auth"\r\n'
        'WWW-Authenticate: Digest realm="x", nonce="n", algorithm=MD5, qop="auth"\r\n',
    )
    req = parse_request(text.encode())
    creds = req.authorization
    assert creds is not None and creds.username == "101"
    assert [c.algorithm for c in req.www_authenticate] == ["SHA-256", "MD5"]
    assert req.proxy_authorization is None
    req.set("Authorization", "Digest garbage=")
    with pytest.raises(SipParseError):
        _ = req.authorization


def test_line_folding_unfolds_to_one_space() -> None:
    req = _invite()
    assert req.get_all("Route") == ["<sip:p1.example.com;lr>, <sip:p2.example.com;lr>"]


def test_header_names_case_insensitive_and_compact() -> None:
    req = _invite()
    assert req.get("CALL-ID") == req.get("i") == req.get("Call-Id")
    assert "content-type" in req
    assert "Nope" not in req


def test_mutation_invalidates_cached_views() -> None:
    req = _invite()
    assert req.cseq.seq == 7
    req.set("CSeq", "8 INVITE")
    assert req.cseq.seq == 8
    req.remove_first("Via")
    assert req.top_via.host == "proxy.example.com"
    req.add("Via", "SIP/2.0/UDP me.example.com;branch=z9hG4bKnew", first=True)
    assert req.top_via.host == "me.example.com"
    req.remove("Via")
    with pytest.raises(SipParseError):
        _ = req.top_via


def test_serializer_fixes_content_length_and_keeps_unknown_headers() -> None:
    req = _invite()
    req.body = b"v=0\r\nfoo"
    wire = req.to_bytes()
    assert wire.endswith(b"Content-Length: 8\r\n\r\nv=0\r\nfoo")
    assert b"X-Odd-Header: keep   spacing  inside\r\n" in wire
    assert parse_message(wire).body == req.body


def test_building_a_request_from_values() -> None:
    req = Request(
        "OPTIONS",
        SipUri("example.com", "bob"),
        [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch={new_branch()}"),
            ("From", f"<sip:alice@example.com>;tag={new_tag()}"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", new_call_id()),
            ("CSeq", "1 OPTIONS"),
            ("Max-Forwards", "70"),
        ],
    )
    again = parse_request(req.to_bytes())
    assert again.method == "OPTIONS" and again.top_via.is_rfc3261_branch


def test_make_response_copies_and_tags() -> None:
    req = _invite()
    resp = make_response(req, 180, to_tag="xyz", copy_record_route=True)
    assert resp.reason == "Ringing"
    assert resp.get_all("Via") == req.get_all("Via")
    assert resp.to.tag == "xyz" and resp.from_.tag == "a48s"
    assert resp.cseq == req.cseq and resp.call_id == req.call_id
    assert resp.get("Record-Route") == req.get("Record-Route")
    trying = make_response(req, 100, to_tag="xyz")
    assert trying.to.tag is None
    again = parse_message(resp.to_bytes())
    assert isinstance(again, Response) and again.status == 180


def test_missing_reason_phrase_gets_a_default() -> None:
    assert Response(486).reason == "Busy Here"
    assert Response(499).reason == "Bad Request"
    assert Response(299).reason == "OK"


def test_stateless_answer_possible_for_bad_request() -> None:
    bad = BASE.replace("CSeq: 7 INVITE", "CSeq: 7 BYE").encode()
    with pytest.raises(SipParseError) as info:
        parse_request(bad)
    assert info.value.message is not None
    assert isinstance(info.value.message, Request)
    resp = make_response(info.value.message, info.value.status, info.value.reason)
    assert resp.status == 400 and "CSeq" in resp.reason


def test_leading_crlf_ignored_and_lf_only_accepted() -> None:
    lf = BASE.replace("\r\n", "\n").replace("l: 4\n", "l: 3\n").encode()
    req = parse_request(b"\r\n\r\n" + lf)
    assert req.body == b"v=0"


# status-coded rejections for malformed input (the table the issue asks for)
MALFORMED = [
    ("no colon in a header", BASE.replace("Max-Forwards: 70", "Max-Forwards 70"), 400),
    ("bad header name", BASE.replace("Max-Forwards:", "Max Forwards:"), 400),
    ("Max-Forwards not a number", BASE.replace("Max-Forwards: 70", "Max-Forwards: x"), 400),
    ("negative Content-Length", BASE.replace("l: 4", "l: -4"), 400),
    ("Content-Length beyond body", BASE.replace("l: 4", "l: 400"), 400),
    ("CSeq too large", BASE.replace("CSeq: 7", "CSeq: 4294967296"), 400),
    ("CSeq without method", BASE.replace("CSeq: 7 INVITE", "CSeq: 7"), 400),
    ("two Call-IDs", BASE.replace("i: call-1", "i: x\r\ni: call-1"), 400),
    ("missing Via", BASE.replace("v: SIP", "X-v: SIP").replace("Via: SIP", "X-Via: SIP"), 400),
    ("Via without sent-by", BASE.replace("SIP/2.0/UDP 10.0.0.1:5060;", "SIP/2.0/UDP ;"), 400),
    ("Via bad port", BASE.replace("10.0.0.1:5060;", "10.0.0.1:99999;"), 400),
    ("From unterminated <", BASE.replace("<sip:agb@bell.example.com>", "<sip:agb@bell"), 400),
    ("To with bad URI", BASE.replace("t: Bob <sip:bob@example.com>", "t: <sip:@>"), 400),
    ("Request-URI bad", BASE.replace("INVITE sip:bob@example.com", "INVITE sip:bob@"), 400),
    ("Request-URI scheme", BASE.replace("INVITE sip:bob@example.com", "INVITE mailto:b@c"), 416),
    ("SIP/3.0", BASE.replace(" SIP/2.0\r\n", " SIP/3.0\r\n", 1), 505),
    ("not SIP at all", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("empty", "", 400),
    ("two-token start line", "INVITE sip:a@b\r\n\r\n", 400),
]


@pytest.mark.parametrize(("what", "text", "status"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_a_status(what: str, text: str, status: int) -> None:
    with pytest.raises(SipParseError) as info:
        parse_request(text.encode())
    assert info.value.status == status, what
    assert info.value.reason


def test_oversized_message_refused() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(BASE.encode() + b"x" * 70000)
    assert info.value.status == 513


def test_contact_star_rules() -> None:
    star = BASE.replace("m: <sip:agb@10.0.0.1:5060>;expires=60;q=0.5, sip:agb2@10.0.0.2", "m: *")
    req = parse_request(star.encode())
    assert req.contact_is_star and req.contacts == []
    mixed = BASE.replace("m: <sip", "m: *\r\nm: <sip")
    req = parse_request(mixed.encode())
    with pytest.raises(SipParseError):
        _ = req.contacts


# -- stream framing -------------------------------------------------------------------------


def test_framer_splits_messages_and_keepalives() -> None:
    wire = _invite().to_bytes()
    framer = StreamFramer()
    stream = b"\r\n\r\n" + wire + wire + b"\r\n"
    out: list[bytes | KeepAlive] = []
    for i in range(0, len(stream), 7):  # arbitrary segmentation
        out.extend(framer.feed(stream[i : i + 7]))
    assert out == [KeepAlive.PING, wire, wire]
    assert framer.buffered == 2  # a lone CRLF may be half a ping: held until more arrives
    assert framer.feed(b"\r\n") == [KeepAlive.PING]
    assert framer.feed(b"\r\n" + wire) == [KeepAlive.PONG, wire]


def test_framer_waits_on_half_message_with_bounded_buffer() -> None:
    framer = StreamFramer(max_header=1024)
    assert framer.feed(b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n") == []
    with pytest.raises(FramingError):
        framer.feed(b"X-Pad: " + b"a" * 2000)


def test_framer_caps_headers_arriving_in_one_read() -> None:
    with pytest.raises(FramingError):
        StreamFramer(max_header=1024).feed(
            b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"a" * 4000 + b"\r\nl: 0\r\n\r\n"
        )


@pytest.mark.parametrize(
    "head",
    [
        b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 10\r\nl: 5\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 10000000\r\n\r\n",
    ],
)
def test_framer_refuses_unframeable(head: bytes) -> None:
    with pytest.raises(FramingError):
        StreamFramer().feed(head)


def test_validate_flags_headers_in_request_uri() -> None:
    text = BASE.replace("INVITE sip:bob@example.com", "INVITE sip:bob@example.com?Subject=x")
    req = parse_message(text.encode())
    assert isinstance(req, Request)
    with pytest.raises(SipParseError):
        validate_request(req)


def test_non_ascii_digits_are_not_numbers() -> None:
    text = BASE.replace("expires=60", "expires=²").replace(";rport", ";rport=٣")
    req = parse_request(text.encode())
    assert req.contacts[0].expires is None
    assert req.top_via.rport_requested
    with pytest.raises(SipParseError):
        parse_request(BASE.replace("CSeq: 7", "CSeq: ٧").encode())


def test_lookups_follow_fields_appended_directly_and_top_via_rewrites() -> None:
    msg = parse_message(BASE.encode())
    assert msg.get("X-Missing") is None
    msg.headers.append(("x-missing", "X-Missing", "now here"))  # bypassing add()
    assert msg.get("X-Missing") == "now here"
    assert msg.get_all("Allow") == ["INVITE, ACK", "BYE"]
    assert msg.from_.tag == "a48s"  # cached before the rewrite
    top = msg.top_via.with_param("received", "192.0.2.1")
    msg.replace_top_via(top)
    assert msg.top_via.received == "192.0.2.1"
    assert "received=192.0.2.1" in msg.get_all("Via")[0]
    assert [v.host for v in msg.vias] == ["10.0.0.1", "proxy.example.com", "[2001:db8::9]"]
    again = parse_message(msg.to_bytes())
    assert again.vias == msg.vias
    assert msg.from_.tag == "a48s"


def test_random_pool_hands_out_each_byte_once() -> None:
    pool = RandomPool(chunk=64)
    draws = [pool(16) for _ in range(20)] + [pool(100)]
    assert [len(d) for d in draws] == [16] * 20 + [100]
    assert len(set(draws)) == len(draws)
    assert len({new_tag() for _ in range(2000)}) == 2000
    assert len(random_hex(8)) == 16


def test_top_via_rewrite_of_a_single_via_is_seen_by_lookups() -> None:
    msg = parse_message(
        b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport\r\n"
        b"From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\n"
        b"CSeq: 1 OPTIONS\r\n\r\n"
    )
    assert msg.get("Via") == "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport"
    msg.replace_top_via(msg.top_via.with_param("rport", "5062"))
    assert msg.get("Via") == "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport=5062"
    assert msg.top_via.rport == 5062
