"""Micro-benchmark of the SDP core on a typical two-codec audio offer.

Run: ``.venv/bin/python -m bench.sdp_bench [seconds-per-case]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from sipswitch.sdp import LocalMedia, build_answer, parse_sdp

OFFER = (
    b"v=0\r\n"
    b"o=- 1729712345 1729712345 IN IP4 203.0.113.10\r\n"
    b"s=Asterisk\r\n"
    b"c=IN IP4 203.0.113.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 14562 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``work``, measured over about ``seconds``."""
    batch = 1000
    calls = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            work()
        calls += batch
    return calls / elapsed


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    sdp = parse_sdp(OFFER)
    local = LocalMedia("198.51.100.7", 30000, "4242", 1)
    cases: dict[str, Callable[[], object]] = {
        "parses/s": lambda: parse_sdp(OFFER),
        "serializations/s": lambda: bytes(sdp),
        "answers/s": lambda: build_answer(sdp, local),
    }
    for name, work in cases.items():
        print(f"{name:>18}: {rate(work, seconds):>10,.0f}")


if __name__ == "__main__":
    main()
