"""Offer/answer (RFC 3264)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sipswitch.sdp import (
    PCMA,
    PCMU,
    Codec,
    CodecPolicy,
    Connection,
    Direction,
    LocalMedia,
    Media,
    Negotiation,
    OfferAnswerError,
    RtpMap,
    SessionDescription,
    build_answer,
    build_offer,
    check_answer,
    new_session_id,
    parse_sdp,
)
from tests.sdp.samples import ASTERISK, BARESIP, LINPHONE, crlf

LOCAL = LocalMedia("198.51.100.7", 30000, "4242", 1)


def offer_with(*media_lines: str, session: tuple[str, ...] = ()) -> bytes:
    return crlf(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        *session,
        *media_lines,
    )


def test_answer_to_asterisk_picks_first_offered_and_keeps_dtmf() -> None:
    answer = build_answer(parse_sdp(ASTERISK), LOCAL)
    assert bytes(answer.sdp) == crlf(
        "v=0",
        "o=- 4242 1 IN IP4 198.51.100.7",
        "s=-",
        "c=IN IP4 198.51.100.7",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    )
    negotiation = answer.negotiation
    assert negotiation is not None
    assert negotiation.index == 0
    assert negotiation.codec == RtpMap(0, "PCMU", 8000)
    assert negotiation.telephone_event == RtpMap(101, "telephone-event", 8000)
    assert negotiation.direction is Direction.SENDRECV
    assert negotiation.ptime == 20.0
    assert (negotiation.remote_address, negotiation.remote_port) == ("203.0.113.10", 14562)


def test_offerer_order_wins_over_ours_by_default() -> None:
    offer = parse_sdp(offer_with("m=audio 5000 RTP/AVP 8 0"))
    answer = build_answer(offer, LOCAL, (PCMU, PCMA))
    assert answer.sdp.media[0].formats == ("8",)
    ours = build_answer(offer, LOCAL, (PCMU, PCMA), policy=CodecPolicy.OURS)
    assert ours.sdp.media[0].formats == ("0",)


def test_codec_intersection_with_dynamic_types_and_unsupported_first() -> None:
    answer = build_answer(parse_sdp(BARESIP), LOCAL)
    media = answer.sdp.media[0]
    assert media.formats == ("0", "101")
    assert media.fmtp("101") == "0-15"
    assert answer.negotiation is not None
    assert answer.negotiation.codec.name == "PCMU/8000"


def test_all_common_codecs_when_not_single() -> None:
    answer = build_answer(parse_sdp(BARESIP), LOCAL, single_codec=False)
    assert answer.sdp.media[0].formats == ("0", "8", "101")
    assert answer.negotiation is not None
    assert [c.payload_type for c in answer.negotiation.codecs] == [0, 8]


def test_dynamic_payload_type_of_a_codec_we_know_is_kept() -> None:
    offer = parse_sdp(offer_with("m=audio 5000 RTP/AVP 110", "a=rtpmap:110 pcma/8000"))
    answer = build_answer(offer, LOCAL)
    assert answer.sdp.media[0].formats == ("110",)
    assert answer.sdp.media[0].rtpmaps[110] == RtpMap(110, "pcma", 8000)


def test_no_common_codec_rejects_stream() -> None:
    offer = parse_sdp(
        offer_with("m=audio 5000 RTP/AVP 18 101", "a=rtpmap:101 telephone-event/8000")
    )
    answer = build_answer(offer, LOCAL)
    assert answer.negotiation is None
    assert answer.sdp.media == (Media("audio", 0, "RTP/AVP", ("18", "101")),)


def test_linphone_video_rejected_and_matching_dtmf_rate_chosen() -> None:
    answer = build_answer(parse_sdp(LINPHONE), LOCAL)
    audio, video = answer.sdp.media
    assert audio.port == 30000
    assert audio.formats == ("0", "100")
    assert video == Media("video", 0, "RTP/AVP", ("96", "97"))
    assert answer.negotiation is not None
    assert answer.negotiation.telephone_event == RtpMap(100, "telephone-event", 8000)


def test_multiple_m_lines_same_count_and_order() -> None:
    offer = parse_sdp(
        offer_with(
            "m=video 6000 RTP/AVP 96",
            "a=rtpmap:96 H264/90000",
            "m=audio 0 RTP/AVP 0",
            "m=audio 5000 RTP/SAVP 0",
            "m=audio 5002 RTP/AVP 8",
            "a=mid:a1",
            "m=audio 5004 RTP/AVP 0",
            "m=application 7000 UDP/BFCP *",
        )
    )
    answer = build_answer(offer, LOCAL)
    assert [(m.media, m.port) for m in answer.sdp.media] == [
        ("video", 0),
        ("audio", 0),
        ("audio", 0),
        ("audio", 30000),
        ("audio", 0),
        ("application", 0),
    ]
    assert answer.sdp.media[3].mid == "a1"
    assert answer.sdp.media[3].attributes[0].name == "mid"
    assert answer.negotiation is not None
    assert answer.negotiation.index == 3
    assert check_answer(offer, answer.sdp) == Negotiation(
        index=3,
        codec=RtpMap(8, "PCMA", 8000),
        telephone_event=None,
        direction=Direction.SENDRECV,
        ptime=None,
        remote_address="198.51.100.7",
        remote_port=30000,
        codecs=(RtpMap(8, "PCMA", 8000),),
    )


@pytest.mark.parametrize(
    ("offered", "wanted", "answered"),
    [
        ("sendrecv", Direction.SENDRECV, Direction.SENDRECV),
        ("sendonly", Direction.SENDRECV, Direction.RECVONLY),
        ("recvonly", Direction.SENDRECV, Direction.SENDONLY),
        ("inactive", Direction.SENDRECV, Direction.INACTIVE),
        ("sendrecv", Direction.SENDONLY, Direction.SENDONLY),
        ("sendonly", Direction.SENDONLY, Direction.INACTIVE),
        ("recvonly", Direction.RECVONLY, Direction.INACTIVE),
        ("sendrecv", Direction.INACTIVE, Direction.INACTIVE),
    ],
)
def test_direction_answered_per_rfc3264_6_1(
    offered: str, wanted: Direction, answered: Direction
) -> None:
    offer = parse_sdp(offer_with("m=audio 5000 RTP/AVP 0", f"a={offered}"))
    answer = build_answer(offer, LOCAL, direction=wanted)
    assert answer.sdp.media[0].direction is answered
    assert answer.negotiation is not None
    assert answer.negotiation.direction is answered
    check_answer(offer, answer.sdp)


def test_session_level_direction_is_answered() -> None:
    offer = parse_sdp(offer_with("m=audio 5000 RTP/AVP 0", session=("a=sendonly",)))
    assert build_answer(offer, LOCAL).sdp.media[0].direction is Direction.RECVONLY


def test_ptime_echoed_verbatim() -> None:
    offer = parse_sdp(offer_with("m=audio 5000 RTP/AVP 0", "a=ptime:30"))
    assert build_answer(offer, LOCAL).sdp.media[0].attribute("ptime") == "30"


def test_dtmf_can_be_declined() -> None:
    answer = build_answer(parse_sdp(ASTERISK), LOCAL, telephone_event=False)
    assert answer.sdp.media[0].formats == ("0",)


def test_build_offer_defaults() -> None:
    offer = build_offer(LOCAL)
    assert bytes(offer) == crlf(
        "v=0",
        "o=- 4242 1 IN IP4 198.51.100.7",
        "s=-",
        "c=IN IP4 198.51.100.7",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    )


def test_build_offer_allocates_dynamic_types_and_ipv6() -> None:
    local = LocalMedia("2001:db8::5", 4000, "9", 3, username="sipswitch")
    opus = Codec("opus", 48000, 2, fmtp="useinbandfec=1")
    l16 = Codec("L16", 16000)
    offer = build_offer(local, (opus, l16, PCMU), ptime=None, direction=Direction.SENDONLY)
    media = offer.media[0]
    assert offer.origin.addrtype == "IP6"
    assert offer.connection == Connection("2001:db8::5", addrtype="IP6")
    assert media.formats == ("96", "97", "0", "101")
    assert media.rtpmaps[96] == RtpMap(96, "opus", 48000, 2)
    assert media.fmtp("96") == "useinbandfec=1"
    assert media.ptime is None
    assert media.direction is Direction.SENDONLY
    assert parse_sdp(bytes(offer)) == offer
    with pytest.raises(ValueError, match="at least one codec"):
        build_offer(local, ())


def test_offer_answer_between_two_switches() -> None:
    offer = build_offer(LOCAL)
    other = LocalMedia("203.0.113.9", 40000, new_session_id())
    answer = build_answer(parse_sdp(bytes(offer)), other, (PCMA,))
    agreed = check_answer(offer, parse_sdp(bytes(answer.sdp)))
    assert agreed is not None
    assert agreed.codec == RtpMap(8, "PCMA", 8000)
    assert agreed.telephone_event == RtpMap(101, "telephone-event", 8000)
    assert (agreed.remote_address, agreed.remote_port) == ("203.0.113.9", 40000)


def test_reoffer_version_increments() -> None:
    offer = build_offer(LOCAL)
    hold = build_offer(replace(LOCAL, session_version=offer.origin.session_version + 1))
    assert hold.origin.session_version == 2
    assert offer.next_version().origin == hold.origin


def test_new_session_id_is_numeric_and_fresh() -> None:
    ids = {new_session_id() for _ in range(5)}
    assert all(i.isdigit() for i in ids)
    assert len(ids) == 5


OFFER = build_offer(LOCAL)


def answer_with(*lines: str) -> bytes:
    return crlf("v=0", "o=- 9 9 IN IP4 203.0.113.9", "s=-", "c=IN IP4 203.0.113.9", "t=0 0", *lines)


def test_check_answer_uses_answer_payload_type_and_borrowed_rtpmap() -> None:
    offer = build_offer(LOCAL, (Codec("opus", 48000, 2), PCMU))
    agreed = check_answer(offer, parse_sdp(answer_with("m=audio 4 RTP/AVP 96 0")))
    assert agreed is not None
    assert agreed.codec == RtpMap(96, "opus", 48000, 2)
    assert agreed.telephone_event is None


def test_check_answer_reports_our_direction() -> None:
    agreed = check_answer(OFFER, parse_sdp(answer_with("m=audio 4 RTP/AVP 0", "a=recvonly")))
    assert agreed is not None
    assert agreed.direction is Direction.SENDONLY


def test_check_answer_all_rejected_is_none() -> None:
    assert check_answer(OFFER, parse_sdp(answer_with("m=audio 0 RTP/AVP 0"))) is None


@pytest.mark.parametrize(
    ("offer", "answer", "message"),
    [
        (OFFER, answer_with(), "answer has 0 m-lines, the offer had 1"),
        (OFFER, answer_with("m=video 4 RTP/AVP 0"), "m-line 1: media 'video' does not match"),
        (
            OFFER,
            answer_with("m=audio 4 RTP/AVP 18"),
            "m-line 1: the answer has no codec from the offer",
        ),
        (
            OFFER,
            answer_with("m=audio 4 RTP/AVP 101"),
            "m-line 1: the answer has no codec from the offer",
        ),
        (
            build_offer(LOCAL, direction=Direction.SENDONLY),
            answer_with("m=audio 4 RTP/AVP 0", "a=sendrecv"),
            "m-line 1: sendrecv is not a valid answer to sendonly",
        ),
        (
            build_offer(LOCAL, direction=Direction.INACTIVE),
            answer_with("m=audio 4 RTP/AVP 0", "a=recvonly"),
            "m-line 1: recvonly is not a valid answer to inactive",
        ),
        (
            replace(OFFER, media=(replace(OFFER.media[0], port=0),)),
            answer_with("m=audio 4 RTP/AVP 0"),
            "m-line 1: stream offered with port 0 was accepted",
        ),
        (
            OFFER,
            crlf("v=0", "o=- 9 9 IN IP4 h", "s=-", "t=0 0", "m=audio 4 RTP/AVP 0"),
            "m-line 1: accepted stream has no connection address",
        ),
    ],
)
def test_check_answer_rejects_invalid(
    offer: SessionDescription, answer: bytes, message: str
) -> None:
    with pytest.raises(OfferAnswerError) as info:
        check_answer(offer, parse_sdp(answer))
    assert str(info.value).startswith(message)


def test_answer_copies_offer_timing() -> None:
    offer = parse_sdp(
        crlf(
            "v=0",
            "o=- 1 1 IN IP4 h",
            "s=-",
            "c=IN IP4 192.0.2.1",
            "t=3000 4000",
            "m=audio 5 RTP/AVP 0",
        )
    )
    assert build_answer(offer, LOCAL).sdp.timings == offer.timings


def test_stream_without_connection_address_is_rejected() -> None:
    offer = parse_sdp(
        crlf(
            "v=0",
            "o=- 1 1 IN IP4 h",
            "s=-",
            "t=0 0",
            "m=audio 5 RTP/AVP 0",
            "m=audio 6 RTP/AVP 0",
            "c=IN IP4 192.0.2.9",
        )
    )
    answer = build_answer(offer, LOCAL)
    assert [m.port for m in answer.sdp.media] == [0, 30000]
    assert answer.negotiation is not None
    assert answer.negotiation.remote_address == "192.0.2.9"
