"""Dialogs (RFC 3261 §12): creation, routing, CSeq rules, refresh, forking and matching."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.sip.address import Address, parse_address
from sipswitch.sip.builders import make_response
from sipswitch.sip.dialog import (
    Dialog,
    DialogId,
    DialogRole,
    DialogState,
    DialogTable,
    RequestVerdict,
    SentBy,
    route_request,
    uac_dialog_from_response,
    uas_dialog_from_request,
)
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import TOKEN_CHARS
from sipswitch.sip.message import Request, Response
from sipswitch.sip.parser import parse_message, validate_request
from sipswitch.sip.uri import SipUri, Uri, parse_uri
from sipswitch.sip.values import Replaces

CALL_ID = "a84b4c76e66710@pc33.atlanta.example.com"
ALICE_TAG = "1928301774"
BOB_TAG = "a6c85cf"
ALICE_CONTACT = "<sip:alice@pc33.atlanta.example.com>"
BOB_CONTACT = "<sip:bob@192.0.2.4>"
P1 = "<sip:p1.atlanta.example.com;lr>"
P2 = "<sip:p2.biloxi.example.com;lr>"
ALICE_VIA = SentBy("pc33.atlanta.example.com", 5060)
BOB_VIA = SentBy("192.0.2.4", 5060, "TCP", rport=False)


def sent_invite(cseq: int = 314159) -> Request:
    """Alice's INVITE as she sends it (RFC 3665-style values)."""
    return Request(
        "INVITE",
        "sip:bob@biloxi.example.com",
        [
            ("Via", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8;rport"),
            ("Max-Forwards", "70"),
            ("To", "Bob <sip:bob@biloxi.example.com>"),
            ("From", f"Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}"),
            ("Call-ID", CALL_ID),
            ("CSeq", f"{cseq} INVITE"),
            ("Contact", ALICE_CONTACT),
            ("Content-Type", "application/sdp"),
        ],
        b"v=0\r\n",
    )


def received_invite(record_route: tuple[str, ...] = (P2, P1)) -> Request:
    """The INVITE as Bob gets it: each proxy added its Record-Route on top (§16.6)."""
    invite = parse_message(sent_invite().to_bytes())
    assert isinstance(invite, Request)
    invite.add("Via", "SIP/2.0/UDP p2.biloxi.example.com;branch=z9hG4bK2", first=True)
    for value in record_route:
        invite.add("Record-Route", value)
    invite.uri = parse_uri("sip:bob@192.0.2.4")
    return invite


def bob_answers(
    status: int, to_tag: str = BOB_TAG, contact: str = BOB_CONTACT, rr: tuple[str, ...] = (P2, P1)
) -> Response:
    """Bob's response as Alice receives it (Record-Route copied back, §12.1.1)."""
    response = make_response(
        received_invite(rr),
        status,
        to_tag=to_tag,
        headers=(("Contact", contact),),
        copy_record_route=True,
    )
    response.remove_first("Via")  # p2 strips its own Via on the way back
    parsed = parse_message(response.to_bytes())
    assert isinstance(parsed, Response)
    return parsed


def uac_dialog(status: int = 200) -> Dialog:
    return uac_dialog_from_response(sent_invite(), bob_answers(status))


def uas_dialog(state: DialogState = DialogState.CONFIRMED) -> Dialog:
    return uas_dialog_from_request(
        received_invite(), BOB_TAG, parse_address(BOB_CONTACT), state=state
    )


def roundtrip(request: Request) -> Request:
    parsed = parse_message(request.to_bytes())
    assert isinstance(parsed, Request)
    validate_request(parsed)
    return parsed


def in_dialog_request(method: str, seq: int, *, contact: str | None = None) -> Request:
    """A request Bob sends to Alice within the dialog, as Alice receives it."""
    headers = [
        ("Via", "SIP/2.0/TCP 192.0.2.4;branch=z9hG4bKbob1"),
        ("Max-Forwards", "69"),
        ("From", f"Bob <sip:bob@biloxi.example.com>;tag={BOB_TAG}"),
        ("To", f"Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}"),
        ("Call-ID", CALL_ID),
        ("CSeq", f"{seq} {method}"),
    ]
    if contact is not None:
        headers.append(("Contact", contact))
    return Request(method, "sip:alice@pc33.atlanta.example.com", headers)


# -- creation -----------------------------------------------------------------------------


def test_uac_early_dialog_from_180() -> None:
    dialog = uac_dialog(180)
    assert dialog.state is DialogState.EARLY and dialog.early
    assert dialog.role is DialogRole.UAC and dialog.method == "INVITE"
    assert dialog.id == DialogId(CALL_ID, ALICE_TAG, BOB_TAG)
    assert str(dialog.local_uri) == "Alice <sip:alice@atlanta.example.com>"
    assert str(dialog.remote_uri) == "Bob <sip:bob@biloxi.example.com>"
    assert dialog.local_uri.tag is None and dialog.remote_uri.tag is None
    assert (dialog.local_seq, dialog.remote_seq) == (314159, None)
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"
    assert str(dialog.local_contact) == ALICE_CONTACT
    # §12.1.2: the UAC's route set is the Record-Route list in reverse order
    assert [str(r) for r in dialog.route_set] == [P1, P2]
    assert str(dialog.next_hop) == "sip:p1.atlanta.example.com;lr"
    assert dialog.secure is False


def test_uac_confirmed_dialog_from_200() -> None:
    dialog = uac_dialog(200)
    assert dialog.state is DialogState.CONFIRMED and dialog.confirmed


def test_uas_dialog_from_request() -> None:
    dialog = uas_dialog(DialogState.EARLY)
    assert dialog.role is DialogRole.UAS and dialog.early
    assert dialog.id == DialogId(CALL_ID, BOB_TAG, ALICE_TAG)
    assert str(dialog.local_uri) == "Bob <sip:bob@biloxi.example.com>"
    assert str(dialog.remote_uri) == "Alice <sip:alice@atlanta.example.com>"
    # §12.1.1: the UAS keeps the Record-Route list in order; its local CSeq starts empty
    assert [str(r) for r in dialog.route_set] == [P2, P1]
    assert (dialog.local_seq, dialog.remote_seq) == (None, 314159)
    assert str(dialog.remote_target) == "sip:alice@pc33.atlanta.example.com"
    assert str(dialog.local_contact) == BOB_CONTACT
    dialog.confirm()
    assert dialog.confirmed
    dialog.terminate()
    dialog.confirm()
    assert dialog.terminated


def test_both_ends_name_the_same_dialog() -> None:
    assert uac_dialog().id == uas_dialog().id.reversed()
    assert str(uac_dialog().id) == f"{CALL_ID};local={ALICE_TAG};remote={BOB_TAG}"


def test_secure_flag_follows_sips_request_uri() -> None:
    invite = sent_invite()
    invite.uri = parse_uri("sips:bob@biloxi.example.com")
    assert uac_dialog_from_response(invite, bob_answers(200)).secure is True
    assert uac_dialog_from_response(invite, bob_answers(200), secure=False).secure is False


def test_uac_creation_rules() -> None:
    with pytest.raises(ValueError, match="101-299"):
        uac_dialog_from_response(sent_invite(), bob_answers(100))
    with pytest.raises(ValueError, match="101-299"):
        uac_dialog_from_response(sent_invite(), bob_answers(486))
    untagged = make_response(sent_invite(), 180)
    with pytest.raises(ValueError, match="To tag"):
        uac_dialog_from_response(sent_invite(), untagged)
    # an RFC 2543 2xx without a To tag gives a null remote tag; no Contact: the Request-URI
    legacy = make_response(sent_invite(), 200)
    dialog = uac_dialog_from_response(sent_invite(), legacy)
    assert dialog.remote_tag == "" and str(dialog.remote_target) == "sip:bob@biloxi.example.com"
    bye = roundtrip(dialog.create_request("BYE", via=ALICE_VIA))
    assert bye.to.tag is None


def test_uas_creation_rules() -> None:
    invite = received_invite()
    invite.remove("Contact")
    with pytest.raises(SipParseError):
        uas_dialog_from_request(invite, BOB_TAG, parse_address(BOB_CONTACT))
    with pytest.raises(ValueError, match="local tag"):
        uas_dialog_from_request(received_invite(), "", parse_address(BOB_CONTACT))
    # an RFC 2543 request without a From tag: null remote tag; a bare URI contact is accepted
    legacy = received_invite()
    legacy.set("From", "<sip:alice@atlanta.example.com>")
    dialog = uas_dialog_from_request(legacy, BOB_TAG, SipUri("192.0.2.4", "bob"))
    assert dialog.remote_tag == "" and str(dialog.local_contact) == BOB_CONTACT
    assert roundtrip(dialog.create_request("BYE", via=BOB_VIA)).to.tag is None


# -- building requests --------------------------------------------------------------------


def test_loose_routing_bye_from_uac() -> None:
    dialog = uac_dialog()
    bye = roundtrip(dialog.create_request("BYE", via=ALICE_VIA))
    assert bye.method == "BYE"
    assert str(bye.uri) == "sip:bob@192.0.2.4"  # §12.2.1.1: R-URI = remote target
    assert [str(r) for r in bye.routes] == [P1, P2]
    assert bye.from_.tag == ALICE_TAG and bye.to.tag == BOB_TAG
    assert str(bye.from_) == f"Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}"
    assert bye.call_id == CALL_ID
    assert (bye.cseq.seq, bye.cseq.method) == (314160, "BYE")
    assert bye.max_forwards == 70
    via = bye.top_via
    assert (via.transport, via.host, via.port, via.rport_requested) == (
        "UDP",
        "pc33.atlanta.example.com",
        5060,
        True,
    )
    assert via.is_rfc3261_branch
    assert "Contact" not in bye  # RFC 3261 Table 3: no Contact in BYE
    assert dialog.local_seq == 314160


def test_loose_routing_from_uas_uses_route_set_as_received() -> None:
    dialog = uas_dialog()
    bye = roundtrip(dialog.create_request("BYE", via=BOB_VIA))
    assert str(bye.uri) == "sip:alice@pc33.atlanta.example.com"
    assert [str(r) for r in bye.routes] == [P2, P1]
    assert bye.from_.tag == BOB_TAG and bye.to.tag == ALICE_TAG
    assert bye.top_via.transport == "TCP" and bye.top_via.rport is None


def test_no_route_set() -> None:
    dialog = uac_dialog_from_response(sent_invite(), bob_answers(200, rr=()))
    assert dialog.route_set == ()
    info = roundtrip(dialog.create_request("INFO", via=ALICE_VIA))
    assert str(info.uri) == "sip:bob@192.0.2.4" and "Route" not in info


def test_strict_routing() -> None:
    strict = "<sip:strict.example.com;maddr=192.0.2.77;method=INVITE>"
    dialog = uac_dialog_from_response(sent_invite(), bob_answers(200, rr=(P2, strict)))
    assert [str(r) for r in dialog.route_set] == [strict, P2]
    bye = roundtrip(dialog.create_request("BYE", via=ALICE_VIA))
    # §12.2.1.1: R-URI = first route, without what a Request-URI may not carry (§19.1.1)
    assert str(bye.uri) == "sip:strict.example.com;maddr=192.0.2.77"
    # the rest of the route set, then the remote target as the last Route
    assert [str(r) for r in bye.routes] == [P2, BOB_CONTACT]


def test_route_request_pure_function() -> None:
    target = parse_uri("sip:bob@192.0.2.4;transport=tcp?Subject=hi")
    loose = (parse_address(P1),)
    strict = (parse_address("<sip:s.example.com>"), parse_address(P2))
    assert route_request(target, ()) == (parse_uri("sip:bob@192.0.2.4;transport=tcp"), [])
    uri, routes = route_request(target, loose)
    assert str(uri) == "sip:bob@192.0.2.4;transport=tcp" and routes == list(loose)
    uri, routes = route_request(target, strict)
    assert str(uri) == "sip:s.example.com"
    assert [str(r) for r in routes] == [P2, "<sip:bob@192.0.2.4;transport=tcp>"]


def test_via_callable_gets_the_next_hop() -> None:
    seen: list[Uri] = []

    def pick(next_hop: Uri) -> SentBy:
        seen.append(next_hop)
        return SentBy("10.0.0.1", 5080, "tls")

    dialog = uac_dialog()
    request = dialog.create_request("OPTIONS", via=pick, branch="z9hG4bKfixed")
    assert [str(u) for u in seen] == ["sip:p1.atlanta.example.com;lr"]
    assert str(request.top_via) == "SIP/2.0/TLS 10.0.0.1:5080;branch=z9hG4bKfixed;rport"
    dialog.route_set = ()
    dialog.create_request("OPTIONS", via=pick)
    assert str(seen[-1]) == "sip:bob@192.0.2.4"


def test_cseq_increments_and_ack_reuses_invite_cseq() -> None:
    dialog = uac_dialog(180)
    ok = bob_answers(200)
    dialog.on_response(ok)
    ack = roundtrip(dialog.create_ack(ok, via=ALICE_VIA))
    assert (ack.cseq.seq, ack.cseq.method) == (314159, "ACK")  # §13.2.2.4
    assert dialog.local_seq == 314159
    assert str(ack.uri) == "sip:bob@192.0.2.4" and [str(r) for r in ack.routes] == [P1, P2]
    assert str(ack.contacts[0]) == ALICE_CONTACT
    seqs = [dialog.create_request(m, via=ALICE_VIA).cseq.seq for m in ("INFO", "UPDATE", "BYE")]
    assert seqs == [314160, 314161, 314162]
    reinvite = dialog.create_request("INVITE", via=ALICE_VIA)
    assert reinvite.cseq.seq == 314163
    ack2 = dialog.create_ack(314163, via=ALICE_VIA)
    assert (ack2.cseq.seq, ack2.cseq.method) == (314163, "ACK")
    assert ack.top_via.branch != ack2.top_via.branch  # an ACK for a 2xx is a new transaction
    assert dialog.local_seq == 314163


def test_ack_and_cancel_are_not_built_as_ordinary_requests() -> None:
    dialog = uac_dialog()
    with pytest.raises(ValueError, match="create_ack"):
        dialog.create_request("ACK", via=ALICE_VIA)
    with pytest.raises(ValueError, match="CANCEL"):
        dialog.create_request("cancel", via=ALICE_VIA)
    with pytest.raises(ValueError, match="2xx"):
        dialog.create_ack(bob_answers(486), via=ALICE_VIA)
    assert dialog.local_seq == 314159


def test_uas_local_cseq_starts_below_2_31() -> None:
    dialog = uas_dialog()
    first = dialog.create_request("BYE", via=BOB_VIA).cseq.seq
    assert 1 <= first < 2**31 and dialog.local_seq == first
    assert dialog.create_request("INFO", via=BOB_VIA).cseq.seq == first + 1
    fixed = uas_dialog_from_request(
        received_invite(), BOB_TAG, parse_address(BOB_CONTACT), local_seq=9
    )
    assert fixed.create_request("INFO", via=BOB_VIA).cseq.seq == 10


def test_body_headers_and_contact() -> None:
    dialog = uac_dialog()
    new_contact = parse_address("<sip:alice@198.51.100.7:5062;transport=tcp>")
    reinvite = roundtrip(
        dialog.create_request(
            "INVITE",
            via=ALICE_VIA,
            body=b"v=0\r\n",
            headers=[("Content-Type", "application/sdp"), ("Supported", "timer")],
            contact=new_contact,
            max_forwards=10,
        )
    )
    assert reinvite.body == b"v=0\r\n" and reinvite.content_type == "application/sdp"
    assert reinvite.supported == ["timer"] and reinvite.max_forwards == 10
    assert reinvite.contacts == [new_contact]
    assert dialog.local_contact == new_contact  # our local target changed with the refresh
    refer = dialog.create_request("REFER", via=ALICE_VIA, headers=[("Refer-To", "<sip:c@x>")])
    assert refer.contacts == [new_contact]
    with pytest.raises(ValueError, match="Content-Type"):
        dialog.create_request("INFO", via=ALICE_VIA, body=b"x")
    with pytest.raises(ValueError, match="call-id"):
        dialog.create_request("INFO", via=ALICE_VIA, headers=[("i", "other")])
    with pytest.raises(ValueError, match="bad header"):
        dialog.create_request("INFO", via=ALICE_VIA, headers=[("X-A", "1\r\nX-B: 2")])
    with pytest.raises(ValueError, match="bad method"):
        dialog.create_request("IN FO", via=ALICE_VIA)
    with pytest.raises(ValueError, match="Max-Forwards"):
        dialog.create_request("INFO", via=ALICE_VIA, max_forwards=300)


# -- receiving requests and responses ----------------------------------------------------


def test_remote_target_refresh_by_request() -> None:
    dialog = uac_dialog()
    info = in_dialog_request("INFO", 5, contact="<sip:bob@203.0.113.1>")
    assert dialog.on_request(info) is RequestVerdict.ACCEPT
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"  # INFO refreshes nothing
    verdict = dialog.on_request(in_dialog_request("INVITE", 6, contact="<sip:bob@203.0.113.2>"))
    assert verdict is RequestVerdict.ACCEPT and verdict.status is None
    assert str(dialog.remote_target) == "sip:bob@203.0.113.2"
    dialog.on_request(in_dialog_request("UPDATE", 7, contact="<sip:bob@203.0.113.3>"))
    assert str(dialog.remote_target) == "sip:bob@203.0.113.3"
    dialog.on_request(in_dialog_request("UPDATE", 8))  # no Contact: target kept
    assert str(dialog.remote_target) == "sip:bob@203.0.113.3"
    assert dialog.remote_seq == 8
    bye = roundtrip(dialog.create_request("BYE", via=ALICE_VIA))
    assert str(bye.uri) == "sip:bob@203.0.113.3"


def test_remote_target_refresh_by_2xx() -> None:
    dialog = uac_dialog()
    reinvite = dialog.create_request("INVITE", via=ALICE_VIA)
    pending = make_response(reinvite, 491, headers=(("Contact", "<sip:bob@203.0.113.9>"),))
    dialog.on_response(pending)
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"  # only a 2xx refreshes (§12.2.1.2)
    ok = make_response(reinvite, 200, headers=(("Contact", "<sip:bob@203.0.113.9>"),))
    dialog.on_response(ok)
    assert str(dialog.remote_target) == "sip:bob@203.0.113.9"
    assert [str(r) for r in dialog.route_set] == [P1, P2]  # route set fixed once confirmed
    assert dialog.confirmed


def test_early_dialog_recomputes_route_set_on_2xx() -> None:
    dialog = uac_dialog(180)
    other = "<sip:p3.example.net;lr>"
    dialog.on_response(bob_answers(200, contact="<sip:bob@192.0.2.99>", rr=(other, P1)))
    assert dialog.confirmed
    assert [str(r) for r in dialog.route_set] == [P1, other]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.99"


def test_out_of_order_cseq_verdict() -> None:
    dialog = uas_dialog()  # remote CSeq 314159 from the INVITE
    verdict = dialog.on_request(in_dialog_request("INFO", 314158))
    assert verdict is RequestVerdict.OUT_OF_ORDER and verdict.status == 500
    assert dialog.remote_seq == 314159
    assert dialog.on_request(in_dialog_request("INFO", 314159)) is RequestVerdict.OUT_OF_ORDER
    # ACK and CANCEL carry the CSeq of the request they belong to
    assert dialog.on_request(in_dialog_request("ACK", 314159)) is RequestVerdict.ACCEPT
    assert dialog.on_request(in_dialog_request("CANCEL", 314159)) is RequestVerdict.ACCEPT
    assert dialog.on_request(in_dialog_request("INFO", 314160)) is RequestVerdict.ACCEPT
    assert dialog.remote_seq == 314160


def test_uac_accepts_any_first_remote_cseq() -> None:
    dialog = uac_dialog()
    assert uac_dialog().remote_seq is None
    assert dialog.on_request(in_dialog_request("INFO", 1)) is RequestVerdict.ACCEPT
    assert dialog.remote_seq == 1
    assert dialog.on_request(in_dialog_request("INFO", 1)) is RequestVerdict.OUT_OF_ORDER


def test_bye_terminates() -> None:
    received = uac_dialog()
    assert received.on_request(in_dialog_request("BYE", 1)) is RequestVerdict.ACCEPT
    assert received.terminated
    sent = uac_dialog()
    bye = sent.create_request("BYE", via=ALICE_VIA)
    sent.on_response(make_response(bye, 407))
    assert sent.confirmed  # credentials asked: the BYE is sent again
    sent.on_response(make_response(bye, 200))
    assert sent.terminated
    sent.on_response(make_response(bye, 200))  # nothing revives it
    assert sent.terminated


@pytest.mark.parametrize("status", [408, 481])
def test_481_and_408_terminate(status: int) -> None:
    dialog = uac_dialog()
    info = dialog.create_request("INFO", via=ALICE_VIA)
    dialog.on_response(make_response(info, 100))
    assert dialog.confirmed
    dialog.on_response(make_response(info, status))
    assert dialog.state is DialogState.TERMINATED


def test_final_failure_terminates_early_dialog() -> None:
    dialog = uac_dialog(180)
    dialog.on_response(bob_answers(486))
    assert dialog.terminated


# -- the table: matching and forking -------------------------------------------------------


def test_forking_two_early_dialogs_then_one_confirmed() -> None:
    table = DialogTable()
    invite = sent_invite()
    assert table.on_response(invite, make_response(invite, 100)) is None
    first = table.on_response(invite, bob_answers(180, to_tag="fork1"))
    second = table.on_response(invite, bob_answers(183, to_tag="fork2", contact="<sip:b@h2>"))
    assert first is not None and second is not None and first is not second
    assert first.early and second.early and len(table) == 2
    assert table.on_response(invite, bob_answers(180, to_tag="fork1")) is first
    assert {d.remote_tag for d in table.related(CALL_ID, ALICE_TAG)} == {"fork1", "fork2"}
    answered = table.on_response(invite, bob_answers(200, to_tag="fork2", contact="<sip:b@h2>"))
    assert answered is second and second.confirmed and first.early
    # the INVITE transaction ends: forks that never answered are gone (§13.2.2.4)
    assert table.terminate_early(CALL_ID, ALICE_TAG) == [first]
    assert first.terminated and list(table) == [second]
    assert first not in table and second in table and second.id in table
    assert "not an id" not in table


def test_forked_2xx_for_unknown_tag_creates_confirmed_dialog() -> None:
    table = DialogTable()
    invite = sent_invite()
    table.on_response(invite, bob_answers(180, to_tag="fork1"))
    late = table.on_response(invite, bob_answers(200, to_tag="fork3"))
    assert late is not None and late.confirmed and len(table) == 2


def test_non_2xx_final_terminates_all_early_dialogs() -> None:
    table = DialogTable()
    invite = sent_invite()
    forks = [table.on_response(invite, bob_answers(180, to_tag=t)) for t in ("f1", "f2")]
    assert table.on_response(invite, bob_answers(486, to_tag="f9")) is None
    assert all(d is not None and d.terminated for d in forks) and len(table) == 0


def test_table_ignores_responses_that_create_nothing() -> None:
    table = DialogTable()
    invite = sent_invite()
    assert table.on_response(invite, make_response(invite, 180)) is None  # no To tag
    options = Request("OPTIONS", "sip:bob@biloxi.example.com", sent_invite().header_items())
    options.set("CSeq", "1 OPTIONS")
    assert table.on_response(options, make_response(options, 200, to_tag="x")) is None
    assert len(table) == 0
    fork = table.on_response(invite, bob_answers(180, to_tag="f1"))
    assert table.on_response(options, make_response(options, 404, to_tag="y")) is None
    assert fork is not None and fork.early and len(table) == 1  # only the INVITE's own final


def test_subscribe_and_refer_create_dialogs_on_2xx() -> None:
    table = DialogTable()
    subscribe = Request("SUBSCRIBE", "sip:bob@biloxi.example.com", sent_invite().header_items())
    subscribe.set("CSeq", "7 SUBSCRIBE")
    subscribe.set("Event", "dialog")
    assert table.on_response(subscribe, make_response(subscribe, 180, to_tag="s1")) is None
    dialog = table.on_response(
        subscribe, make_response(subscribe, 202, to_tag="s1", headers=(("Contact", BOB_CONTACT),))
    )
    assert dialog is not None and dialog.confirmed and dialog.method == "SUBSCRIBE"
    assert dialog.local_seq == 7


def test_notify_before_2xx_creates_dialog_from_request() -> None:
    """RFC 6665 §4.1.2.4: a NOTIFY may come before the 2xx; the door is open for it."""
    notify = in_dialog_request("NOTIFY", 1, contact=BOB_CONTACT)
    dialog = uas_dialog_from_request(
        notify,
        notify.to.tag or "",
        parse_address(ALICE_CONTACT),
        state=DialogState.CONFIRMED,
        local_seq=7,
    )
    assert dialog.id == DialogId(CALL_ID, ALICE_TAG, BOB_TAG)
    assert dialog.create_request("SUBSCRIBE", via=ALICE_VIA).cseq.seq == 8


def test_matching_requests_and_responses() -> None:
    table = DialogTable()
    dialog = table.add(uac_dialog())
    with pytest.raises(ValueError, match="exists"):
        table.add(uac_dialog())
    # an incoming request: Call-ID, To tag (ours), From tag (theirs)
    assert table.match_request(in_dialog_request("INFO", 1)) is dialog
    assert table.on_request(in_dialog_request("INFO", 2)) == (dialog, RequestVerdict.ACCEPT)
    assert table.on_request(in_dialog_request("INFO", 2)) == (dialog, RequestVerdict.OUT_OF_ORDER)
    stranger = in_dialog_request("INFO", 3)
    stranger.set("From", "<sip:eve@example.com>;tag=eve")
    assert table.match_request(stranger) is None
    assert table.on_request(stranger) == (None, RequestVerdict.NO_DIALOG)
    assert RequestVerdict.NO_DIALOG.status == 481
    fresh = sent_invite()
    assert table.match_request(fresh) is None
    assert table.on_request(fresh) == (None, RequestVerdict.OUT_OF_DIALOG)
    # a response to our request: Call-ID, From tag (ours), To tag (theirs)
    info = dialog.create_request("INFO", via=ALICE_VIA)
    reply = make_response(roundtrip(info), 200)
    assert table.match_response(reply) is dialog
    assert table.on_response(info, reply) is dialog
    # a BYE received through the table ends and removes the dialog
    ended, verdict = table.on_request(in_dialog_request("BYE", 10))
    assert ended is dialog and verdict is RequestVerdict.ACCEPT and dialog.terminated
    assert len(table) == 0 and table.get(dialog.id) is None
    table.discard(dialog)  # harmless


def test_end_to_end_bye_reaches_the_peer_dialog() -> None:
    alice, bob = DialogTable(), DialogTable()
    invite = sent_invite()
    bob_dialog = bob.add(uas_dialog())
    alice_dialog = alice.on_response(invite, bob_answers(200))
    assert alice_dialog is not None
    bye = parse_message(alice_dialog.create_request("BYE", via=ALICE_VIA).to_bytes())
    assert isinstance(bye, Request)
    found, verdict = bob.on_request(bye)
    assert found is bob_dialog and verdict is RequestVerdict.ACCEPT and bob_dialog.terminated
    answer = make_response(bye, 200)
    assert alice.on_response(bye, answer) is alice_dialog and alice_dialog.terminated
    assert len(alice) == len(bob) == 0


def test_dialog_id_helpers() -> None:
    replaces = Replaces(CALL_ID, to_tag=BOB_TAG, from_tag=ALICE_TAG)
    assert DialogId.of_replaces(replaces) == uas_dialog().id
    assert DialogId.of_request(sent_invite()) is None
    assert DialogId.of_response(bob_answers(200)) == uac_dialog().id
    assert {DialogId("c", "a", "b"), DialogId("c", "a", "b")} == {DialogId("c", "a", "b")}


# -- property: built requests round-trip and route as §12.2.1.1 says -------------------------

_TAG = st.text(alphabet=sorted(TOKEN_CHARS), min_size=1, max_size=16)
_HOST = st.from_regex(r"[a-z][a-z0-9-]{0,8}(\.[a-z]{2,6}){0,2}", fullmatch=True)
_PORT = st.none() | st.integers(1, 65535)


@st.composite
def _sip_uris(draw: st.DrawFn, *, lr: bool | None = None) -> SipUri:
    params: list[tuple[str, str | None]] = []
    if draw(st.booleans()):
        params.append(("transport", draw(st.sampled_from(["udp", "tcp", "tls"]))))
    if lr if lr is not None else draw(st.booleans()):
        params.append(("lr", None))
    user = draw(st.none() | st.from_regex(r"[a-z0-9+]{1,10}", fullmatch=True))
    return SipUri(draw(_HOST), user, None, draw(_PORT), "sip", tuple(params))


@settings(max_examples=250, deadline=None)
@given(
    call_id=st.builds(lambda w, h: w if h is None else f"{w}@{h}", _TAG, st.none() | _HOST),
    local_tag=_TAG,
    remote_tag=_TAG,
    routes=st.lists(_sip_uris(), max_size=4),
    target=_sip_uris(lr=False),
    seq=st.integers(0, 2**31),
    method=st.sampled_from(["BYE", "INFO", "INVITE", "UPDATE", "OPTIONS", "NOTIFY", "REFER"]),
)
def test_built_requests_round_trip_and_route(
    *,
    call_id: str,
    local_tag: str,
    remote_tag: str,
    routes: list[SipUri],
    target: SipUri,
    seq: int,
    method: str,
) -> None:
    dialog = Dialog(
        call_id=call_id,
        local_tag=local_tag,
        remote_tag=remote_tag,
        local_uri=Address(SipUri("atlanta.example.com", "alice"), "Alice"),
        remote_uri=Address(SipUri("biloxi.example.com", "bob")),
        remote_target=target,
        local_contact=Address(SipUri("192.0.2.1", "alice", port=5060)),
        route_set=tuple(Address(u) for u in routes),
        local_seq=seq,
        state=DialogState.CONFIRMED,
    )
    request = roundtrip(dialog.create_request(method, via=ALICE_VIA))
    assert request.method == method and request.call_id == call_id
    assert (request.cseq.seq, request.cseq.method) == (seq + 1, method)
    assert request.from_.tag == local_tag and request.to.tag == remote_tag
    assert request.top_via.is_rfc3261_branch and request.max_forwards == 70
    got_routes = [str(r.uri) for r in request.routes]
    if not routes:
        assert str(request.uri) == str(target) and got_routes == []
    elif routes[0].lr:
        assert str(request.uri) == str(target)
        assert got_routes == [str(u) for u in routes]
    else:
        assert str(request.uri) == str(routes[0])
        assert got_routes == [str(u) for u in routes[1:]] + [str(target)]
    assert request.uri == (routes[0] if routes and not routes[0].lr else target)
