"""Parse a session description (RFC 8866 §5, compatible with RFC 4566).

Liberal in what it accepts, as deployed peers are sloppy:

* CRLF or bare LF line ends; blank lines are skipped; input is ``bytes`` (UTF-8, undecodable
  bytes survive a round trip) or ``str``.
* Only ``v=0`` must come first. Session-level lines (``o s u e p t r z``) are accepted anywhere,
  even after an ``m=`` line, and belong to the session; ``i c b k a`` belong to the media section
  they follow.
* A missing ``s=`` reads as ``s=-`` and a missing ``t=`` as ``t=0 0``: sloppy peers omit them,
  the description stays unambiguous, and we always emit both. An ``m=`` line without formats
  is accepted; a missing ``c=`` is left for offer/answer to judge.

Rejected, as they cannot be understood: a description not starting with ``v=0``, a missing or
malformed ``o=`` line, a malformed ``m=``, ``c=``, ``b=``, ``t=`` line, a non-numeric or
out-of-range port, a duplicated single-valued line (``v o s u z``, or ``i c k`` twice at one level;
media sections may carry several ``c=``), a CR not before LF (CR-only line ends) or a NUL, and
an unknown type letter (the RFC says to ignore such a description entirely, §5).
"""

from __future__ import annotations

from sipswitch.sdp.attributes import Attribute, is_uint
from sipswitch.sdp.errors import SdpParseError
from sipswitch.sdp.model import (
    Bandwidth,
    Connection,
    Media,
    Origin,
    SessionDescription,
    Timing,
)


def parse_sdp(data: bytes | bytearray | memoryview | str) -> SessionDescription:
    """Parse ``data`` into a :class:`SessionDescription`, or raise :class:`SdpParseError`."""
    if isinstance(data, str):
        text = data
        if not text.isascii():
            try:
                text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError as exc:
                raise SdpParseError(
                    "text is not encodable as UTF-8", text.count("\n", 0, exc.start) + 1
                ) from None
    else:
        text = bytes(data).decode("utf-8", "surrogateescape")
    return _Parser().run(text)


class _Parser:
    """One pass over the lines; a mutable scratchpad that is frozen at the end."""

    __slots__ = (
        "attributes",
        "bandwidths",
        "connection",
        "emails",
        "information",
        "key",
        "media",
        "origin",
        "phones",
        "session_name",
        "timings",
        "uri",
        "zones",
    )

    def __init__(self) -> None:
        self.origin: Origin | None = None
        self.session_name: str | None = None
        self.information: str | None = None
        self.uri: str | None = None
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.connection: Connection | None = None
        self.bandwidths: list[Bandwidth] = []
        self.timings: list[tuple[int, int, list[str]]] = []
        self.zones: str | None = None
        self.key: str | None = None
        self.attributes: list[Attribute] = []
        self.media: list[_MediaScratch] = []

    def run(self, text: str) -> SessionDescription:
        text = text.replace("\r\n", "\n")
        if text.endswith("\r"):
            text = text[:-1]
        if "\r" in text or "\x00" in text:
            at = min(i for i in (text.find("\r"), text.find("\x00")) if i >= 0)
            raise SdpParseError("stray CR or NUL in line", text.count("\n", 0, at) + 1)
        lines = text.split("\n")
        first = next((n for n, line in enumerate(lines) if line and not line.isspace()), None)
        if first is None:
            raise SdpParseError("empty description: no v=0 line")
        if lines[first][:2] != "v=":
            raise SdpParseError("description must start with v=0", first + 1)
        if lines[first][2:].strip() != "0":
            raise SdpParseError(f"unsupported version v={_show(lines[first][2:])}", first + 1)
        current: _MediaScratch | None = None
        attributes = self.attributes
        for number, line in enumerate(lines[first + 1 :], first + 2):
            try:
                if line[1:2] != "=":
                    if not line or line.isspace():
                        continue
                    raise SdpParseError(f"expected '<type>=<value>', got {_show(line)}")
                kind = line[0]
                value = line[2:]
                if kind == "a":
                    name, colon, rest = value.partition(":")
                    name = name.strip()
                    if not name:
                        raise SdpParseError("attribute without a name")
                    attributes.append(Attribute(name, rest if colon else None))
                elif kind == "m":
                    current = _media_line(value)
                    attributes = current.attributes
                    self.media.append(current)
                elif kind == "c":
                    connection = _connection(value)
                    if current is not None:
                        current.connections.append(connection)
                    elif self.connection is not None:
                        raise SdpParseError("duplicate session-level c= line")
                    else:
                        self.connection = connection
                elif kind == "b":
                    target_bw = self.bandwidths if current is None else current.bandwidths
                    target_bw.append(_bandwidth(value))
                else:
                    self._other(kind, value, current)
            except SdpParseError as exc:
                if exc.line is None:
                    raise SdpParseError(exc.reason, number) from None
                raise
        if self.origin is None:
            raise SdpParseError("missing o= line")
        return SessionDescription(
            origin=self.origin,
            session_name="-" if self.session_name is None else self.session_name,
            information=self.information,
            uri=self.uri,
            emails=tuple(self.emails),
            phones=tuple(self.phones),
            connection=self.connection,
            bandwidths=tuple(self.bandwidths),
            timings=tuple(Timing(s, e, tuple(r)) for s, e, r in self.timings) or (Timing(),),
            time_zones=self.zones,
            key=self.key,
            attributes=tuple(self.attributes),
            media=tuple(m.freeze() for m in self.media),
        )

    def _other(self, kind: str, value: str, current: _MediaScratch | None) -> None:
        if kind == "i":
            if current is not None:
                current.information = _once(current.information, value, "i")
            else:
                self.information = _once(self.information, value, "i")
        elif kind == "k":
            if current is not None:
                current.key = _once(current.key, value, "k")
            else:
                self.key = _once(self.key, value, "k")
        elif kind == "o":
            if self.origin is not None:
                raise SdpParseError("duplicate o= line")
            self.origin = _origin(value)
        elif kind == "s":
            self.session_name = _once(self.session_name, value, "s")
        elif kind == "t":
            fields = value.split()
            if len(fields) != 2:
                raise SdpParseError(f"bad t= line {_show(value)}: expected '<start> <stop>'")
            self.timings.append(
                (_number(fields[0], "start time"), _number(fields[1], "stop time"), [])
            )
        elif kind == "r":
            if not self.timings:
                raise SdpParseError("r= line without a preceding t= line")
            self.timings[-1][2].append(value)
        elif kind == "u":
            self.uri = _once(self.uri, value, "u")
        elif kind == "e":
            self.emails.append(value)
        elif kind == "p":
            self.phones.append(value)
        elif kind == "z":
            self.zones = _once(self.zones, value, "z")
        elif kind == "v":
            raise SdpParseError("duplicate v= line")
        else:
            raise SdpParseError(f"unknown line type {kind!r}")


class _MediaScratch:
    __slots__ = ("attributes", "bandwidths", "connections", "header", "information", "key")

    def __init__(self, header: tuple[str, int, int | None, str, tuple[str, ...]]) -> None:
        self.header = header
        self.information: str | None = None
        self.connections: list[Connection] = []
        self.bandwidths: list[Bandwidth] = []
        self.key: str | None = None
        self.attributes: list[Attribute] = []

    def freeze(self) -> Media:
        media, port, port_count, proto, formats = self.header
        return Media(
            media=media,
            port=port,
            proto=proto,
            formats=formats,
            port_count=port_count,
            information=self.information,
            connections=tuple(self.connections),
            bandwidths=tuple(self.bandwidths),
            key=self.key,
            attributes=tuple(self.attributes),
        )


def _show(text: str, limit: int = 40) -> str:
    """A short printable quotation of peer text for an error message."""
    cut = text if len(text) <= limit else text[:limit] + "..."
    return repr(cut)


def _once(previous: str | None, value: str, kind: str) -> str:
    if previous is not None:
        raise SdpParseError(f"duplicate {kind}= line")
    return value


def _number(text: str, what: str, digits: int = 20, maximum: int | None = None) -> int:
    if not is_uint(text) or len(text) > digits:
        raise SdpParseError(f"{what} {_show(text)} is not a number")
    result = int(text)
    if maximum is not None and result > maximum:
        raise SdpParseError(f"{what} {result} is out of range")
    return result


def _origin(value: str) -> Origin:
    fields = value.split()
    if len(fields) != 6:
        raise SdpParseError(
            f"bad o= line {_show(value)}: expected '<username> <sess-id> <sess-version> "
            "<nettype> <addrtype> <address>'"
        )
    username, session_id, version, nettype, addrtype, address = fields
    return Origin(
        username, session_id, _number(version, "session version"), address, nettype, addrtype
    )


def _connection(value: str) -> Connection:
    fields = value.split()
    if len(fields) != 3:
        raise SdpParseError(
            f"bad c= line {_show(value)}: expected '<nettype> <addrtype> <address>'"
        )
    nettype, addrtype, address = fields
    if "/" not in address or addrtype not in ("IP4", "IP6"):
        return Connection(address, nettype, addrtype)
    pieces = address.split("/")
    if not pieces[0]:
        raise SdpParseError(f"bad c= address {_show(address)}")
    if addrtype == "IP4" and len(pieces) <= 3:
        ttl = _number(pieces[1], "TTL", 3, 255)
        count = _number(pieces[2], "address count", 10) if len(pieces) == 3 else None
        return Connection(pieces[0], nettype, addrtype, ttl, count)
    if addrtype == "IP6" and len(pieces) == 2:
        return Connection(
            pieces[0], nettype, addrtype, None, _number(pieces[1], "address count", 10)
        )
    raise SdpParseError(f"bad c= address {_show(address)}")


def _bandwidth(value: str) -> Bandwidth:
    bwtype, colon, amount = value.partition(":")
    bwtype = bwtype.strip()
    if not colon or not bwtype:
        raise SdpParseError(f"bad b= line {_show(value)}: expected '<bwtype>:<bandwidth>'")
    return Bandwidth(bwtype, _number(amount.strip(), "bandwidth"))


def _media_line(value: str) -> _MediaScratch:
    fields = value.split()
    if len(fields) < 3:
        raise SdpParseError(
            f"bad m= line {_show(value)}: expected '<media> <port> <proto> <fmt> ...'"
        )
    port_text, slash, count_text = fields[1].partition("/")
    port = _number(port_text, "m= port", 5, 65535)
    count = _number(count_text, "m= port count", 5, 65535) if slash else None
    return _MediaScratch((fields[0], port, count, fields[2], tuple(fields[3:])))
