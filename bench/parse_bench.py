"""Micro-benchmark of the SIP parser and serializer: messages per second on one core.

Run: ``make bench`` (or ``python -m bench.parse_bench``). Prints figures; asserts nothing.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from sipswitch.sip.message import Request, Response
from sipswitch.sip.parser import parse_message, validate_request, validate_response

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "Bob" <sip:bob@biloxi.example.com>\r\n'
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, UPDATE\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: bench/1.0\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 236\r\n"
    b"\r\n"
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\na=sendrecv\r\n"
)
OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport=5060;"
    b"received=192.0.2.101\r\n"
    b'To: "Bob" <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n'
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def rate(fn: Callable[[], object], seconds: float = 1.0) -> float:
    """Calls per second of ``fn``, measured over about ``seconds``."""
    count = 0
    batch = 1000
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        count += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def _parse_validate(data: bytes) -> object:
    message = parse_message(data)
    if isinstance(message, Request):
        validate_request(message)
    else:
        assert isinstance(message, Response)
        validate_response(message)
    return message


def _variants(template: bytes, count: int = 4096) -> Callable[[], bytes]:
    """Messages that differ as a real stream's do: every one its own Call-ID, From tag and
    branch (so nothing is served from the parser's memo that would not be in real traffic)."""
    messages = [
        template.replace(b"a84b4c76e66710", f"c{i:013d}".encode())
        .replace(b"1928301774", f"{i:010d}".encode())
        .replace(b"z9hG4bK776asdhds", f"z9hG4bK{i:09d}".encode())
        for i in range(count)
    ]
    cycle = itertools.cycle(messages)
    return lambda: next(cycle)


def main() -> None:
    invite = parse_message(INVITE)
    ok = parse_message(OK)
    next_invite = _variants(INVITE)
    next_ok = _variants(OK)
    rows = [
        ("INVITE parse (split headers)", lambda: parse_message(next_invite())),
        ("INVITE parse + validate", lambda: _parse_validate(next_invite())),
        ("INVITE serialize", invite.to_bytes),
        ("200 OK parse (split headers)", lambda: parse_message(next_ok())),
        ("200 OK parse + validate", lambda: _parse_validate(next_ok())),
        ("200 OK serialize", ok.to_bytes),
    ]
    print(f"{'operation':<32} {'messages/s':>12}")
    for name, fn in rows:
        print(f"{name:<32} {rate(fn):>12,.0f}")


if __name__ == "__main__":
    main()
