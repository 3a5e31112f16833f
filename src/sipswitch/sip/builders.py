"""Building new messages: identifiers (§8.1.1) and responses to requests (§8.2.6)."""

from __future__ import annotations

import os

from sipswitch.sip.message import Request, Response, header_key
from sipswitch.sip.values import BRANCH_COOKIE


class RandomPool:
    """Cryptographically random bytes from ``os.urandom``, drawn a few KiB at a time: one
    system call per ~500 identifiers instead of one each. Bytes are handed out once."""

    __slots__ = ("_buffer", "_chunk", "_pos")

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk = chunk
        self._buffer = b""
        self._pos = 0

    def __call__(self, n: int) -> bytes:
        pos = self._pos
        end = pos + n
        if end > len(self._buffer):
            self._buffer = os.urandom(max(self._chunk, n))
            pos, end = 0, n
        self._pos = end
        return self._buffer[pos:end]

    def hex(self, n: int) -> str:
        """``n`` random bytes as hex (like ``secrets.token_hex(n)``)."""
        return self(n).hex()


#: the identifiers' source (the process is single-threaded and never forks)
_RANDOM = RandomPool()

#: headers a response copies from its request (§8.2.6.2); To gets a tag added
_COPIED = ("via", "from", "call-id", "cseq")


def random_hex(n: int) -> str:
    """``n`` cryptographically random bytes as hex (``secrets.token_hex`` from a pool)."""
    return _RANDOM.hex(n)


def new_branch() -> str:
    """A globally unique RFC 3261 branch (magic cookie + 64 random bits, §8.1.1.7)."""
    return BRANCH_COOKIE + _RANDOM.hex(8)


def new_tag() -> str:
    """A random From/To tag (§19.3: at least 32 bits of randomness)."""
    return _RANDOM.hex(6)


def new_call_id() -> str:
    """A globally unique Call-ID (§8.1.1.4)."""
    return _RANDOM.hex(16)


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    copy_record_route: bool = False,
) -> Response:
    """A response to ``request`` per RFC 3261 §8.2.6.

    Via, From, Call-ID and CSeq are copied as written; To is copied and, when it has no tag and
    ``to_tag`` is given (any status above 100), the tag is added. ``copy_record_route`` copies
    Record-Route for dialog-creating responses (§12.1.1).
    """
    response = Response(status, reason)
    out = response.headers
    for key, name, value in request.headers:
        if key in _COPIED or (copy_record_route and key == "record-route"):
            out.append((key, name, value))
        elif key == "to":
            if to_tag is not None and status > 100 and ";tag=" not in value.replace(" ", ""):
                value = f"{value};tag={to_tag}"
            out.append((key, name, value))
    out.extend((header_key(name), name, value) for name, value in headers)
    response.body = body
    return response
