"""Framing SIP on byte streams (TCP, TLS): RFC 3261 §18.3 and RFC 5626 §3.5.1 keep-alives."""

from __future__ import annotations

import enum

from sipswitch.sip.errors import SipParseError
from sipswitch.sip.parser import MAX_MESSAGE_SIZE

MAX_HEADER_SIZE = 16384


class KeepAlive(enum.Enum):
    """Keep-alives seen between messages: a double CRLF ping asks for a single CRLF pong."""

    PING = "ping"
    PONG = "pong"


class FramingError(SipParseError):
    """The stream cannot be framed any more; the connection should be answered and closed."""


class StreamFramer:
    """Cut a byte stream into whole messages by Content-Length, with bounded buffering.

    :meth:`feed` returns complete messages (``bytes``, ready for
    :func:`~sipswitch.sip.parser.parse_message`) and :class:`KeepAlive` markers.
    """

    __slots__ = ("_buffer", "max_header", "max_message")

    def __init__(
        self, max_message: int = MAX_MESSAGE_SIZE, max_header: int = MAX_HEADER_SIZE
    ) -> None:
        self._buffer = bytearray()
        self.max_message = max_message
        self.max_header = max_header

    @property
    def buffered(self) -> int:
        """Octets held waiting for the rest of a message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | KeepAlive]:
        buf = self._buffer
        buf += data
        out: list[bytes | KeepAlive] = []
        while buf:
            if buf[:2] == b"\r\n":
                if buf[:4] == b"\r\n\r\n":
                    out.append(KeepAlive.PING)
                    del buf[:4]
                    continue
                if len(buf) < 4 and b"\r\n\r\n".startswith(bytes(buf)):
                    break  # maybe half a ping: wait
                out.append(KeepAlive.PONG)
                del buf[:2]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0 or end > self.max_header:
                if len(buf) > self.max_header:
                    raise FramingError("Message headers too large", 513)
                break
            length = _content_length(bytes(buf[:end]))
            total = end + 4 + length
            if total > self.max_message:
                raise FramingError("Message Too Large", 513)
            if len(buf) < total:
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out


def _content_length(head: bytes) -> int:
    """Content-Length of a stream message: mandatory (§18.3), single-valued, non-negative."""
    found: set[bytes] = set()
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            found.add(value.strip())
    if not found:
        raise FramingError("Content-Length required on stream transports")
    if len(found) > 1:
        raise FramingError("Conflicting Content-Length values")
    value = found.pop()
    if not value.isdigit() or len(value) > 10:
        raise FramingError("Malformed Content-Length")
    return int(value)
