"""Hold detection, NAT fix-up and the media summary."""

from __future__ import annotations

import pytest

from sipswitch.sdp import (
    Connection,
    Direction,
    MediaSummary,
    is_on_hold,
    is_private_address,
    media_on_hold,
    media_summary,
    nat_fixup,
    parse_sdp,
)
from tests.sdp.samples import ASTERISK, BARESIP, HOLD, LINPHONE, crlf


def sdp_with(*lines: str, conn: str = "c=IN IP4 192.0.2.1") -> bytes:
    return crlf("v=0", "o=- 1 1 IN IP4 192.168.1.2", "s=-", conn, "t=0 0", *lines)


@pytest.mark.parametrize(
    ("lines", "held"),
    [
        (("m=audio 5 RTP/AVP 0",), False),
        (("m=audio 5 RTP/AVP 0", "a=sendrecv"), False),
        (("m=audio 5 RTP/AVP 0", "a=recvonly"), False),
        (("m=audio 5 RTP/AVP 0", "a=sendonly"), True),
        (("m=audio 5 RTP/AVP 0", "a=inactive"), True),
        (("a=sendonly", "m=audio 5 RTP/AVP 0"), True),
        (("a=sendonly", "m=audio 5 RTP/AVP 0", "a=sendrecv"), False),
        (("m=audio 5 RTP/AVP 0", "c=IN IP4 0.0.0.0"), True),
        (("m=audio 0 RTP/AVP 0", "a=sendonly"), False),
        (("m=audio 5 RTP/AVP 0", "a=sendonly", "m=video 6 RTP/AVP 96"), False),
        (("m=audio 5 RTP/AVP 0", "a=sendonly", "m=video 0 RTP/AVP 96"), True),
        ((), False),
    ],
)
def test_hold_detection(lines: tuple[str, ...], held: bool) -> None:
    assert is_on_hold(parse_sdp(sdp_with(*lines))) is held


def test_hold_rfc2543_session_connection() -> None:
    sdp = parse_sdp(sdp_with("m=audio 5 RTP/AVP 0", conn="c=IN IP4 0.0.0.0"))
    assert is_on_hold(sdp)
    assert media_on_hold(sdp, sdp.media[0])
    assert is_on_hold(parse_sdp(HOLD))
    assert not is_on_hold(parse_sdp(ASTERISK))


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.168.0.1", True),
        ("100.64.0.1", True),
        ("100.127.255.254", True),
        ("100.128.0.1", False),
        ("169.254.10.10", True),
        ("127.0.0.1", True),
        ("8.8.8.8", False),
        ("203.0.113.5", False),
        ("0.0.0.0", False),
        ("fd00::1", True),
        ("fe80::1", True),
        ("::1", True),
        ("::", False),
        ("2001:db8::1", False),
        ("::ffff:192.168.1.1", True),
        ("pbx.example.com", False),
        ("", False),
    ],
)
def test_private_address(address: str, private: bool) -> None:
    assert is_private_address(address) is private


def test_nat_fixup_rewrites_session_and_media_connections_only() -> None:
    sdp = parse_sdp(
        sdp_with(
            "m=audio 5000 RTP/AVP 0",
            "c=IN IP4 10.0.0.9",
            "a=rtcp:5001 IN IP4 10.0.0.9",
            "a=candidate:1 1 UDP 1 10.0.0.9 5000 typ host",
            "m=video 6000 RTP/AVP 96",
            "c=IN IP4 198.51.100.1",
            conn="c=IN IP4 192.168.1.2",
        )
    )
    fixed = nat_fixup(sdp, "203.0.113.77")
    assert fixed.connection == Connection("203.0.113.77")
    audio, video = fixed.media
    assert audio.connections == (Connection("203.0.113.77"),)
    assert audio.port == 5000
    assert audio.attribute("rtcp") == "5001 IN IP4 203.0.113.77"
    assert audio.attribute("candidate") == "1 1 UDP 1 10.0.0.9 5000 typ host"
    assert video is sdp.media[1]
    assert fixed.origin == sdp.origin
    untouched_rtcp = nat_fixup(sdp, "203.0.113.77", rtcp=False)
    assert untouched_rtcp.media[0].attribute("rtcp") == "5001 IN IP4 10.0.0.9"


def test_nat_fixup_keeps_public_hold_and_returns_same_object() -> None:
    for data in (ASTERISK, HOLD):
        sdp = parse_sdp(data)
        assert nat_fixup(sdp, "198.51.100.1") is sdp


def test_nat_fixup_changes_address_type() -> None:
    sdp = parse_sdp(BARESIP)
    fixed = nat_fixup(sdp, "2001:db8::9")
    assert fixed.connection == Connection("2001:db8::9", addrtype="IP6")
    assert b"c=IN IP6 2001:db8::9\r\n" in bytes(fixed)
    assert bytes(fixed).replace(b"c=IN IP6 2001:db8::9", b"c=IN IP4 192.168.1.20") == BARESIP


def test_media_summary() -> None:
    summary = media_summary(parse_sdp(LINPHONE))
    assert summary[0] == MediaSummary(
        "audio",
        "192.168.0.42",
        7078,
        Direction.SENDRECV,
        (
            "opus/48000/2",
            "SILK/16000",
            "speex/16000",
            "PCMU/8000",
            "PCMA/8000",
            "G729/8000",
            "telephone-event/48000",
            "telephone-event/16000",
            "telephone-event/8000",
        ),
    )
    media, address, port, direction, codecs = summary[1]
    assert (media, address, port, direction, codecs) == (
        "video",
        "192.168.0.42",
        9078,
        Direction.SENDRECV,
        ("VP8/90000", "H264/90000"),
    )


def test_media_summary_unresolved_formats_and_no_connection() -> None:
    sdp = parse_sdp(
        "v=0\no=- 1 1 IN IP4 h\nm=audio 5 RTP/AVP 96 0\na=sendonly\nm=application 9 TCP/BFCP *\n"
    )
    assert media_summary(sdp) == (
        MediaSummary("audio", None, 5, Direction.SENDONLY, ("96", "PCMU/8000")),
        MediaSummary("application", None, 9, Direction.SENDRECV, ("*",)),
    )
