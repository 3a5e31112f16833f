"""Session descriptions in the style of real peers (composed for these tests)."""

from __future__ import annotations


def crlf(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


ASTERISK = crlf(
    "v=0",
    "o=- 1729712345 1729712345 IN IP4 203.0.113.10",
    "s=Asterisk",
    "c=IN IP4 203.0.113.10",
    "t=0 0",
    "m=audio 14562 RTP/AVP 0 8 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=maxptime:150",
    "a=sendrecv",
)

BARESIP = crlf(
    "v=0",
    "o=- 1496374592 3813484591 IN IP4 192.168.1.20",
    "s=-",
    "c=IN IP4 192.168.1.20",
    "t=0 0",
    "m=audio 10180 RTP/AVP 96 9 0 8 101",
    "b=AS:128",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 stereo=1;sprop-stereo=1",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=rtcp-mux",
    "a=ssrc:3219467081 cname:fe2b6a4e-0f1e-4d8c-a2c8-1b1f5c9d1e2a",
    "a=sendrecv",
    "a=label:1",
    "a=ptime:20",
)

LINPHONE = crlf(
    "v=0",
    "o=alice 2317 1053 IN IP4 192.168.0.42",
    "s=Talk",
    "c=IN IP4 192.168.0.42",
    "t=0 0",
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics",
    "m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 useinbandfec=1",
    "a=rtpmap:97 SILK/16000",
    "a=rtpmap:98 speex/16000",
    "a=fmtp:98 vbr=on",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=yes",
    "a=rtpmap:101 telephone-event/48000",
    "a=rtpmap:99 telephone-event/16000",
    "a=rtpmap:100 telephone-event/8000",
    "a=rtcp-fb:* trr-int 1000",
    "a=rtcp-fb:* ccm tmmbr",
    "m=video 9078 RTP/AVP 96 97",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 H264/90000",
    "a=fmtp:97 profile-level-id=42801F",
    "a=rtcp-fb:* trr-int 1000",
    "a=rtcp-fb:96 nack pli",
)

#: Every optional session-level field, multicast with TTL, a port count, repeat/zone lines.
SEMINAR = crlf(
    "v=0",
    "o=jdoe 2890844526 2890842807 IN IP4 198.51.100.5",
    "s=SDP Seminar",
    "i=A Seminar on the session description protocol",
    "u=http://www.example.com/seminars/sdp.pdf",
    "e=j.doe@example.com (Jane Doe)",
    "p=+1 617 555-6011",
    "c=IN IP4 233.252.0.12/127",
    "b=CT:128",
    "t=2873397496 2873404696",
    "r=7d 1h 0 25h",
    "z=2882844526 -1h 2898848070 0",
    "k=clear:secret",
    "a=recvonly",
    "m=audio 49170 RTP/AVP 0",
    "i=Voice",
    "m=video 51372/2 RTP/AVP 99",
    "c=IN IP6 ff15::101/3",
    "b=AS:256",
    "k=prompt",
    "a=rtpmap:99 h263-1998/90000",
)

#: A re-INVITE putting the call on hold, RFC 2543 style and RFC 3264 style at once.
HOLD = crlf(
    "v=0",
    "o=- 1729712345 1729712346 IN IP4 203.0.113.10",
    "s=Asterisk",
    "c=IN IP4 0.0.0.0",
    "t=0 0",
    "m=audio 14562 RTP/AVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=sendonly",
)

ALL = {
    "asterisk": ASTERISK,
    "baresip": BARESIP,
    "linphone": LINPHONE,
    "seminar": SEMINAR,
    "hold": HOLD,
}
