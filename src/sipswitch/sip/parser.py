"""Parsing SIP messages from datagrams and streams (RFC 3261 §7, §18.3).

Parsing is split in two steps, so the hot path stays cheap:

* :func:`parse_message` frames the message and splits the start line and header fields
  (eagerly), leaving header values unparsed;
* :func:`validate_request` / :func:`validate_response` check what a transaction user relies on
  (the mandatory headers, CSeq, Via, From/To, the Request-URI) and raise
  :class:`SipParseError` carrying the status to answer with.
"""

from __future__ import annotations

import re

from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import TOKEN_CHARS
from sipswitch.sip.message import COMPACT, SIP_VERSION, Message, Request, Response
from sipswitch.sip.uri import AbsoluteUri, SipUri

#: Default cap on one message (headers + body); Kamailio's default is 16 KB per datagram.
MAX_MESSAGE_SIZE = 65535
#: header names as written -> (lookup key, name): every message repeats the same dozen, so
#: they are checked, lowered and stored once (bounded: peers choose the names)
_NAMES: dict[str, tuple[str, str]] = {}
_MAX_NAMES = 2048
_FOLD = re.compile(r"\r?\n[ \t]+")
#: headers that may appear once (Content-Length duplicates are judged by value when framing)
_SINGLETONS = ("call-id", "cseq", "from", "to", "max-forwards")
_MANDATORY = (
    ("Via", "via"),
    ("From", "from"),
    ("To", "to"),
    ("Call-ID", "call-id"),
    ("CSeq", "cseq"),
)


def parse_message(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> Request | Response:
    """Parse one message from a datagram (or a framed stream message).

    The body is framed by Content-Length when present (octets past it are discarded, §18.3);
    without it the rest of the datagram is the body. Raises :class:`SipParseError` only.
    """
    if len(data) > max_size:
        raise SipParseError("Message Too Large", 513)
    start = 0
    while data.startswith(b"\r\n", start):  # §7.5: ignore CRLFs before the start-line
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        head_bytes, body = data[start:end], data[end + 4 :]
    else:
        end = data.find(b"\n\n", start)
        if end >= 0:
            head_bytes, body = data[start:end], data[end + 2 :]
        else:  # no blank line: everything is headers
            head_bytes, body = data[start:].rstrip(b"\r\n"), b""
    if not head_bytes:
        raise SipParseError("Empty message")
    head = head_bytes.decode("utf-8", "surrogateescape")
    if "\n " in head or "\n\t" in head:
        head = _FOLD.sub(" ", head)
    lines = head.split("\r\n") if "\r\n" in head else head.split("\n")
    first = lines[0]
    headers: list[tuple[str, str, str]] = []
    known = _NAMES
    for line in lines[1:]:
        raw, colon, value = line.partition(":")
        if not colon:
            if not line.strip():
                continue
            raise SipParseError("Malformed header line")
        found = known.get(raw)
        if found is None:
            found = _header_name(raw)
        key, name = found
        headers.append((key, name, value.strip(" \t")))
    try:
        message = _start(first)
    except SipParseError as exc:
        if exc.message is not None:  # keep what was read, so the fault can be answered
            exc.message.headers = headers
        raise
    message.headers = headers
    message.body = _frame_body(body, headers, message)
    if message.version != SIP_VERSION:
        if isinstance(message, Request):
            raise SipParseError("Version Not Supported", 505, message=message)
        raise SipParseError("Unsupported SIP version in response", message=message)
    return message


def _start(line: str) -> Request | Response:
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] not in "123456":
            raise SipParseError("Malformed status line")
        return Response(int(code), reason, version=version.upper())
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        bad = Request(parts[0] if parts and TOKEN_CHARS.issuperset(parts[0]) else "?", "")
        reason = "Malformed Request-Line"
        if parts and parts[-1] == "":
            reason += ": trailing space"
        elif "" in parts:
            reason += ": extra whitespace"
        elif len(parts) > 3:
            reason += ": whitespace in Request-URI"
        bad.version = SIP_VERSION
        raise SipParseError(reason, message=bad)
    method, uri, version = parts
    if not TOKEN_CHARS.issuperset(method):
        raise SipParseError("Malformed method")
    request = Request(
        method, uri, version=version.upper() if version.startswith("SIP/") else version
    )
    if not version.startswith("SIP/"):
        raise SipParseError("Malformed Request-Line: bad version", message=request)
    return request


def _frame_body(body: bytes, headers: list[tuple[str, str, str]], message: Message) -> bytes:
    lengths = [v for k, _, v in headers if k == "content-length"]
    if not lengths:
        return body
    if len(set(lengths)) > 1:
        raise SipParseError("Conflicting Content-Length values", message=_safe(message))
    text = lengths[0]
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        raise SipParseError("Malformed Content-Length", message=_safe(message))
    length = int(text)
    if length > len(body):
        raise SipParseError("Content-Length larger than message body", message=_safe(message))
    return body[:length]


def _safe(message: Message) -> Message:
    message.body = b""
    return message


def validate_request(request: Request) -> None:
    """Check what every request must carry (RFC 3261 §8.1.1, §8.2.2); raise with the status.

    Order follows §8.2: the structure first (400), then the Request-URI scheme (416).
    """
    _validate_common(request)
    cseq = request.cseq
    if cseq.method != request.method:
        raise SipParseError("CSeq method does not match Request-Line", message=request)
    try:
        uri = request.uri
    except SipParseError as exc:
        raise SipParseError(f"Bad Request-URI: {exc.reason}", message=request) from None
    if isinstance(uri, AbsoluteUri):
        raise SipParseError("Unsupported URI Scheme", 416, message=request)
    if isinstance(uri, SipUri) and uri.headers:
        raise SipParseError("Headers not allowed in Request-URI", message=request)
    try:
        request.max_forwards  # noqa: B018 - parse for validity
        request.expires  # noqa: B018
    except SipParseError as exc:
        raise SipParseError(exc.reason, message=request) from None


def validate_response(response: Response) -> None:
    """Check a response before it is matched to a transaction; a bad one is dropped (§18.1.2)."""
    _validate_common(response)


def _validate_common(message: Message) -> None:
    try:
        counts: dict[str, int] = {}
        for key, _, _ in message.headers:
            counts[key] = counts.get(key, 0) + 1
        for name, key in _MANDATORY:
            if key not in counts:
                raise SipParseError(f"Missing {name} header")
        for key in _SINGLETONS:
            if counts.get(key, 0) > 1:
                raise SipParseError(f"Multiple {key} headers")
        message.cseq  # noqa: B018 - parse for validity
        message.top_via  # noqa: B018
        message.from_  # noqa: B018
        message.to  # noqa: B018
        if not message.call_id:
            raise SipParseError("Empty Call-ID")
    except SipParseError as exc:
        if exc.message is None:
            exc.message = message
        raise


def _header_name(raw: str) -> tuple[str, str]:
    """(lookup key, name) of a header name as written, checked (remembered when there is room)."""
    name = raw.rstrip(" \t")
    key = name.lower()
    if len(key) == 1:
        key = COMPACT.get(key, key)
    elif not name or not TOKEN_CHARS.issuperset(name):
        raise SipParseError("Malformed header name")
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[raw] = (key, name)
    return key, name


def parse_request(data: bytes) -> Request:
    """Parse and validate a request (helper for tests and tools)."""
    message = parse_message(data)
    if not isinstance(message, Request):
        raise SipParseError("Expected a request")
    validate_request(message)
    return message
