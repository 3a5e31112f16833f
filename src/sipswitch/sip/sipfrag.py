"""message/sipfrag bodies (RFC 3420), as REFER progress NOTIFYs carry them (RFC 3515 §2.4.5).

A REFER NOTIFY body starts with the Status-Line of the referred request's latest response,
e.g. ``SIP/2.0 180 Ringing``, optionally followed by a few header fields. Unlike RFC 3420 in
general, this module requires a start line (a Status-Line or a Request-Line).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import is_token
from sipswitch.sip.message import SIP_VERSION, Request, default_reason
from sipswitch.sip.parser import parse_message

#: the Content-Type header value of a sipfrag body
SIPFRAG_CONTENT_TYPE = "message/sipfrag;version=2.0"
#: the media type, as ``Message.content_type`` reports it
SIPFRAG_MEDIA_TYPE = "message/sipfrag"


@dataclass(frozen=True, slots=True)
class SipFrag:
    """A sipfrag: a Status-Line (``status``/``reason``) or a Request-Line (``method``/``uri``),
    then header fields and an optional body.
    """

    status: int | None = None
    reason: str = ""
    method: str | None = None
    uri: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if (self.status is None) == (self.method is None):
            raise ValueError("a sipfrag has either a status or a method")
        if self.status is not None and not 100 <= self.status <= 699:
            raise ValueError("status out of range")
        if self.method is not None and (not is_token(self.method) or not _is_uri_text(self.uri)):
            raise ValueError("bad Request-Line")
        if not _is_line_text(self.reason):
            raise ValueError("reason phrase must be one line of text")
        for name, value in self.headers:
            if not is_token(name) or not _is_line_text(value) or value != value.strip(" \t"):
                raise ValueError(f"bad header field {name!r}")

    @property
    def is_response(self) -> bool:
        return self.status is not None

    @property
    def is_final(self) -> bool:
        """Whether the status is final (≥ 200): the NOTIFY that carries it ends the subscription."""
        return self.status is not None and self.status >= 200

    def start_line(self) -> str:
        if self.status is not None:
            return f"{SIP_VERSION} {self.status} {self.reason}"
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for n, v in self.headers:
            if n.lower() == lname:
                return v
        return None

    def to_bytes(self) -> bytes:
        """Serialize: start line and header fields, each ending in CRLF; then, with a body, an
        empty line and the body (no Content-Length is added: the enclosing message's frames it).
        """
        lines = [self.start_line(), *(f"{n}: {v}" for n, v in self.headers)]
        if self.body:
            lines.append("")
        text = "".join(line + "\r\n" for line in lines)
        return text.encode("utf-8", "surrogateescape") + self.body


def _is_line_text(text: str) -> bool:
    return "\r" not in text and "\n" not in text and "\x00" not in text


def _is_uri_text(text: str | None) -> bool:
    return bool(text) and text is not None and not any(ch in text for ch in " \t\r\n")


def build_sipfrag(
    status: int, reason: str | None = None, headers: Iterable[tuple[str, str]] = ()
) -> bytes:
    """A sipfrag body for ``status``: ``SIP/2.0 180 Ringing\\r\\n`` plus any header fields."""
    text = default_reason(status) if reason is None else reason
    return SipFrag(status, text, headers=tuple(headers)).to_bytes()


def parse_sipfrag(data: bytes) -> SipFrag:
    """Parse a sipfrag body that starts with a Status-Line or a Request-Line.

    Header fields are kept as written (name, value); raises :class:`SipParseError` only.
    """
    if not data.strip():
        raise SipParseError("Empty sipfrag")
    data = data.lstrip(b"\r\n")
    if data[:4].upper() == b"SIP/":  # the version is case-insensitive (RFC 3261 §7.1)
        data = b"SIP/" + data[4:]
    message = parse_message(data)
    headers = tuple((name, value) for _, name, value in message.headers)
    try:
        if isinstance(message, Request):
            return SipFrag(
                method=message.method, uri=message.uri_text, headers=headers, body=message.body
            )
        return SipFrag(message.status, message.reason, headers=headers, body=message.body)
    except ValueError as exc:
        raise SipParseError(f"Malformed sipfrag: {exc}") from None
