"""Parsing, serialization and the typed attribute views."""

from __future__ import annotations

import pytest

from sipswitch.sdp import (
    Attribute,
    Bandwidth,
    Connection,
    Direction,
    Media,
    Origin,
    Rtcp,
    RtpMap,
    SdpParseError,
    SessionDescription,
    Timing,
    parse_fmtp,
    parse_ptime,
    parse_rtcp,
    parse_rtpmap,
    parse_sdp,
)
from tests.sdp.samples import ALL, ASTERISK, LINPHONE, SEMINAR, crlf


@pytest.mark.parametrize("name", sorted(ALL))
def test_real_world_samples_serialize_byte_identical(name: str) -> None:
    data = ALL[name]
    sdp = parse_sdp(data)
    assert bytes(sdp) == data
    assert sdp.to_bytes() == data
    assert parse_sdp(bytes(sdp)) == sdp


@pytest.mark.parametrize("name", sorted(ALL))
def test_bare_lf_and_str_input_parse_the_same(name: str) -> None:
    data = ALL[name]
    assert parse_sdp(data.replace(b"\r\n", b"\n")) == parse_sdp(data)
    assert parse_sdp(data.decode()) == parse_sdp(data)
    assert parse_sdp(bytearray(data)) == parse_sdp(data)


def test_asterisk_fields() -> None:
    sdp = parse_sdp(ASTERISK)
    assert sdp.version == 0
    assert sdp.origin == Origin("-", "1729712345", 1729712345, "203.0.113.10")
    assert sdp.session_name == "Asterisk"
    assert sdp.connection == Connection("203.0.113.10")
    assert sdp.timings == (Timing(0, 0),)
    (audio,) = sdp.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        14562,
        "RTP/AVP",
        ("0", "8", "101"),
    )
    assert audio.rtpmaps[101] == RtpMap(101, "telephone-event", 8000)
    assert audio.fmtp("101") == "0-16"
    assert audio.fmtps["101"].parameters == (("0-16", None),)
    assert audio.ptime == 20.0
    assert audio.maxptime == 150.0
    assert audio.direction is Direction.SENDRECV
    assert [c.name for c in audio.codecs()] == ["PCMU/8000", "PCMA/8000", "telephone-event/8000"]


def test_seminar_every_field() -> None:
    sdp = parse_sdp(SEMINAR)
    assert sdp.information == "A Seminar on the session description protocol"
    assert sdp.uri == "http://www.example.com/seminars/sdp.pdf"
    assert sdp.emails == ("j.doe@example.com (Jane Doe)",)
    assert sdp.phones == ("+1 617 555-6011",)
    assert sdp.connection == Connection("233.252.0.12", ttl=127)
    assert sdp.bandwidths == (Bandwidth("CT", 128),)
    assert sdp.timings == (Timing(2873397496, 2873404696, ("7d 1h 0 25h",)),)
    assert sdp.time_zones == "2882844526 -1h 2898848070 0"
    assert sdp.key == "clear:secret"
    assert sdp.direction is Direction.RECVONLY
    audio, video = sdp.media
    assert audio.information == "Voice"
    assert sdp.effective_direction(audio) is Direction.RECVONLY
    assert video.port == 51372 and video.port_count == 2
    assert video.connections == (Connection("ff15::101", addrtype="IP6", count=3),)
    assert video.bandwidths == (Bandwidth("AS", 256),)
    assert video.key == "prompt"
    assert sdp.connection_for(video) == video.connection
    assert sdp.connection_for(audio) == sdp.connection


def test_linphone_unknown_attributes_pass_through_in_order() -> None:
    sdp = parse_sdp(LINPHONE)
    assert sdp.attributes == (
        Attribute("rtcp-xr", "rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics"),
    )
    video = sdp.media[1]
    assert [a.name for a in video.attributes] == ["rtpmap", "rtpmap", "fmtp", "rtcp-fb", "rtcp-fb"]
    assert video.attribute("rtcp-fb") == "* trr-int 1000"
    assert sdp.effective_direction(video) is Direction.SENDRECV


def test_static_payload_types_need_no_rtpmap() -> None:
    sdp = parse_sdp(
        crlf("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0", "m=audio 5 RTP/AVP 8 0 18 77")
    )
    assert [c.name for c in sdp.media[0].codecs()] == ["PCMA/8000", "PCMU/8000", "G729/8000"]


def test_rtpmap_overrides_static_table() -> None:
    sdp = parse_sdp(
        crlf(
            "v=0",
            "o=- 1 1 IN IP4 192.0.2.1",
            "s=-",
            "t=0 0",
            "m=audio 5 RTP/AVP 8",
            "a=rtpmap:8 PCMA/16000",
        )
    )
    assert sdp.media[0].codecs() == (RtpMap(8, "PCMA", 16000),)


def test_missing_s_and_t_are_repaired() -> None:
    sdp = parse_sdp(b"v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nm=audio 5 RTP/AVP 0\n")
    assert sdp.session_name == "-"
    assert sdp.timings == (Timing(0, 0),)
    assert bytes(sdp) == crlf(
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        "m=audio 5 RTP/AVP 0",
    )


def test_loose_ordering_and_blank_lines_accepted() -> None:
    text = (
        "\r\nv=0\r\ns=x\r\no=- 1 2 IN IP4 192.0.2.1\r\n\r\nm=audio 5 RTP/AVP 0\r\nt=0 0\r\na=x\r\n"
    )
    sdp = parse_sdp(text)
    assert sdp.origin.session_version == 2
    assert sdp.session_name == "x"
    assert sdp.media[0].attributes == (Attribute("x"),)


def test_media_line_without_formats_and_extra_whitespace() -> None:
    sdp = parse_sdp("v=0\no=- 1 1 IN IP4 h\nm=audio  0   RTP/AVP\n")
    assert sdp.media[0] == Media("audio", 0, "RTP/AVP")
    assert sdp.media[0].rejected


def test_attribute_value_kept_verbatim() -> None:
    sdp = parse_sdp("v=0\no=- 1 1 IN IP4 h\na=tool: x  y \na=empty:\na=flag\n")
    assert sdp.attributes == (
        Attribute("tool", " x  y "),
        Attribute("empty", ""),
        Attribute("flag"),
    )
    assert sdp.attribute("flag") == ""
    assert sdp.attribute("nope") is None
    assert b"a=tool: x  y \r\na=empty:\r\na=flag\r\n" in bytes(sdp)


def test_undecodable_bytes_survive_round_trip() -> None:
    data = crlf("v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0").replace(b"s=-", b"s=\xff\xfe")
    assert bytes(parse_sdp(data)) == data


def test_typed_parsers() -> None:
    assert parse_rtpmap("96 opus/48000/2") == RtpMap(96, "opus", 48000, 2)
    assert str(RtpMap(96, "opus", 48000, 2)) == "96 opus/48000/2"
    assert parse_fmtp("96 a=1; b=2;c").parameters == (("a", "1"), ("b", "2"), ("c", None))
    assert parse_rtcp("53021 IN IP4 126.16.64.4") == Rtcp(53021, "IN", "IP4", "126.16.64.4")
    assert parse_rtcp("53021") == Rtcp(53021)
    assert str(Rtcp(53021, "IN", "IP4", "126.16.64.4")) == "53021 IN IP4 126.16.64.4"
    assert parse_ptime("20") == 20.0
    assert parse_ptime("0.125") == 0.125
    for bad in ("x opus/1", "96 opus", "96 opus/x", "300 a/1", "96 a/1/x"):
        with pytest.raises(SdpParseError):
            parse_rtpmap(bad)
    for bad in ("", "0", "-1", "1e3", "x"):
        with pytest.raises(SdpParseError):
            parse_ptime(bad)
    for bad in ("", "x", "1 IN IP4", "99999"):
        with pytest.raises(SdpParseError):
            parse_rtcp(bad)


def test_typed_accessors_are_lenient() -> None:
    sdp = parse_sdp(
        "v=0\no=- 1 1 IN IP4 h\nm=audio 5 RTP/AVP 96 0\n"
        "a=rtpmap:96 bogus\na=ptime:abc\na=rtcp:x\na=mid:audio\n"
    )
    media = sdp.media[0]
    assert media.rtpmaps == {}
    assert media.codecs() == (RtpMap(0, "PCMU", 8000),)
    assert media.ptime is None
    assert media.rtcp is None
    assert media.mid == "audio"


def test_direction_precedence() -> None:
    sdp = parse_sdp(
        "v=0\no=- 1 1 IN IP4 h\na=inactive\nm=audio 5 RTP/AVP 0\na=sendonly\nm=audio 6 RTP/AVP 0\n"
    )
    assert sdp.effective_direction(sdp.media[0]) is Direction.SENDONLY
    assert sdp.effective_direction(sdp.media[1]) is Direction.INACTIVE
    plain = parse_sdp("v=0\no=- 1 1 IN IP4 h\nm=audio 5 RTP/AVP 0\n")
    assert plain.effective_direction(plain.media[0]) is Direction.SENDRECV


def test_with_direction_replaces_existing() -> None:
    media = Media("audio", 5, "RTP/AVP", ("0",), attributes=(Attribute("sendrecv"), Attribute("x")))
    assert media.with_direction(Direction.INACTIVE).attributes == (
        Attribute("x"),
        Attribute("inactive"),
    )


def test_next_version() -> None:
    sdp = parse_sdp(ASTERISK)
    bumped = sdp.next_version()
    assert bumped.origin.session_version == sdp.origin.session_version + 1
    assert bumped.origin.session_id == sdp.origin.session_id
    assert b"o=- 1729712345 1729712346 IN IP4" in bytes(bumped)


def test_built_model_serializes() -> None:
    sdp = SessionDescription(
        origin=Origin("-", "7", 1, "192.0.2.1"),
        media=(
            Media(
                "audio", 4000, "RTP/AVP", ("0",), attributes=(Attribute("rtpmap", "0 PCMU/8000"),)
            ),
        ),
    )
    assert bytes(sdp) == crlf(
        "v=0",
        "o=- 7 1 IN IP4 192.0.2.1",
        "s=-",
        "t=0 0",
        "m=audio 4000 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty description: no v=0 line"),
        ("\r\n\r\n", "empty description: no v=0 line"),
        ("o=- 1 1 IN IP4 h\n", "line 1: description must start with v=0"),
        ("v=1\n", "line 1: unsupported version v='1'"),
        ("v=0\ns=-\n", "missing o= line"),
        ("v=0\no=- 1 1 IN IP4\n", "line 2: bad o= line '- 1 1 IN IP4': expected"),
        ("v=0\no=- 1 x IN IP4 h\n", "line 2: session version 'x' is not a number"),
        ("v=0\no=- 1 1 IN IP4 h\nm=audio\n", "line 3: bad m= line 'audio': expected"),
        ("v=0\no=- 1 1 IN IP4 h\nm=audio abc RTP/AVP 0\n", "line 3: m= port 'abc' is not a number"),
        (
            "v=0\no=- 1 1 IN IP4 h\nm=audio 70000 RTP/AVP 0\n",
            "line 3: m= port 70000 is out of range",
        ),
        (
            "v=0\no=- 1 1 IN IP4 h\nm=audio 5/x RTP/AVP 0\n",
            "line 3: m= port count 'x' is not a number",
        ),
        ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4\n", "line 3: bad c= line"),
        ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 224.0.0.1/999\n", "line 3: TTL 999 is out of range"),
        ("v=0\no=- 1 1 IN IP4 h\nc=IN IP6 ff15::1/3/4\n", "line 3: bad c= address"),
        ("v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nc=IN IP4 h\n", "line 4: duplicate session-level c="),
        ("v=0\no=- 1 1 IN IP4 h\nb=AS\n", "line 3: bad b= line"),
        ("v=0\no=- 1 1 IN IP4 h\nb=AS:x\n", "line 3: bandwidth 'x' is not a number"),
        ("v=0\no=- 1 1 IN IP4 h\nt=0\n", "line 3: bad t= line"),
        ("v=0\no=- 1 1 IN IP4 h\nr=1d 1h 0\n", "line 3: r= line without a preceding t= line"),
        ("v=0\no=- 1 1 IN IP4 h\nx=1\n", "line 3: unknown line type 'x'"),
        ("v=0\no=- 1 1 IN IP4 h\na = b\n", "line 3: expected '<type>=<value>'"),
        ("v=0\no=- 1 1 IN IP4 h\nnonsense\n", "line 3: expected '<type>=<value>', got 'nonsense'"),
        ("v=0\no=- 1 1 IN IP4 h\na=:x\n", "line 3: attribute without a name"),
        ("v=0\no=- 1 1 IN IP4 h\na=x\ry\n", "line 3: stray CR or NUL"),
        ("v=0\no=- 1 1 IN IP4 h\ns=\x00\n", "line 3: stray CR or NUL"),
        ("v=0\nv=0\n", "line 2: duplicate v= line"),
        ("v=0\no=- 1 1 IN IP4 h\no=- 1 1 IN IP4 h\n", "line 3: duplicate o= line"),
        ("v=0\no=- 1 1 IN IP4 h\ns=a\ns=b\n", "line 4: duplicate s= line"),
        ("v=0\no=- 1 1 IN IP4 h\nm=audio 5 RTP/AVP 0\ni=a\ni=b\n", "line 5: duplicate i= line"),
        ("v=0\no=- 1 1 IN IP4 h\ns=\ud800\n", "line 3: text is not encodable as UTF-8"),
    ],
)
def test_parse_errors_name_line_and_fault(text: str, message: str) -> None:
    with pytest.raises(SdpParseError) as info:
        parse_sdp(text)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


def test_parse_error_carries_line_and_reason() -> None:
    with pytest.raises(SdpParseError) as info:
        parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\nm=audio x RTP/AVP 0\r\n")
    assert info.value.line == 3
    assert info.value.reason == "m= port 'x' is not a number"


def test_huge_numbers_are_parse_errors_not_crashes() -> None:
    with pytest.raises(SdpParseError, match="session version"):
        parse_sdp("v=0\no=- 1 " + "9" * 5000 + " IN IP4 h\n")
    with pytest.raises(SdpParseError, match="not a number"):
        parse_sdp("v=0\no=- 1 1 IN IP4 h\nm=audio ² RTP/AVP 0\n")
