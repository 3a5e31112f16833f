"""The session description model (RFC 8866 §5) and its serialization.

Values are frozen: derive changed copies with :func:`dataclasses.replace` or the ``with_*``
helpers. Serialization always emits CRLF line ends and the field order of RFC 8866 §5
(``v o s i u e p c b t r z k a``, then each media section ``m i c b k a``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from sipswitch.sdp.attributes import (
    DIRECTIONS,
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Attributes,
    Direction,
    Fmtp,
    Rtcp,
    RtpMap,
    direction_of,
    find,
    is_uint,
    parse_fmtp,
    parse_ptime,
    parse_rtcp,
    parse_rtpmap,
)
from sipswitch.sdp.errors import SdpParseError

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>``."""

    username: str
    session_id: str
    session_version: int
    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def next_version(self) -> Origin:
        """This origin with the session version incremented, for a re-offer (RFC 3264 §8)."""
        return replace(self, session_version=self.session_version + 1)

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <address>[/<ttl>][/<count>]`` (RFC 8866 §5.7).

    ``ttl`` is only used by IP4 multicast; ``count`` is the number of addresses (IP6 carries
    it directly after the address). Other address types keep the address verbatim.
    """

    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"
    ttl: int | None = None
    count: int | None = None

    def __str__(self) -> str:
        text = f"{self.nettype} {self.addrtype} {self.address}"
        if self.ttl is not None:
            text += f"/{self.ttl}"
        if self.count is not None:
            text += f"/{self.count}"
        return text


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """``b=<bwtype>:<bandwidth>`` (RFC 8866 §5.8), e.g. ``AS:64`` (kilobits per second)."""

    bwtype: str
    bandwidth: int

    def __str__(self) -> str:
        return f"{self.bwtype}:{self.bandwidth}"


@dataclass(frozen=True, slots=True)
class Timing:
    """``t=<start> <stop>`` with its ``r=`` lines (kept verbatim); ``t=0 0`` is unbounded."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Media:
    """One media description: ``m=<media> <port>[/<count>] <proto> <fmt> ...`` and its lines."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...] = ()
    port_count: int | None = None
    information: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: Attributes = ()

    @property
    def rejected(self) -> bool:
        """A port of zero rejects or disables the stream (RFC 3264 §6, §8.2)."""
        return self.port == 0

    @property
    def connection(self) -> Connection | None:
        """The first media-level connection, if any."""
        return self.connections[0] if self.connections else None

    @property
    def direction(self) -> Direction | None:
        """The media-level direction attribute, if any (see ``effective_direction``)."""
        return direction_of(self.attributes)

    def attribute(self, name: str) -> str | None:
        """The value of the first attribute ``name`` (``""`` for a flag), or None."""
        found = find(self.attributes, name)
        if found is None:
            return None
        return "" if found.value is None else found.value

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """Every well-formed ``rtpmap`` by payload type (a malformed one is skipped)."""
        out: dict[int, RtpMap] = {}
        for attribute in self.attributes:
            if attribute.name == "rtpmap" and attribute.value is not None:
                try:
                    rtpmap = parse_rtpmap(attribute.value)
                except SdpParseError:
                    continue
                out.setdefault(rtpmap.payload_type, rtpmap)
        return out

    @property
    def fmtps(self) -> dict[str, Fmtp]:
        """Every ``fmtp`` by format (the first one wins)."""
        out: dict[str, Fmtp] = {}
        for attribute in self.attributes:
            if attribute.name == "fmtp" and attribute.value is not None:
                try:
                    fmtp = parse_fmtp(attribute.value)
                except SdpParseError:
                    continue
                out.setdefault(fmtp.format, fmtp)
        return out

    def fmtp(self, fmt: str) -> str | None:
        """The format parameters of ``fmt``, verbatim, or None."""
        found = self.fmtps.get(fmt)
        return None if found is None else found.params

    def codecs(self) -> tuple[RtpMap, ...]:
        """The RTP formats of the ``m=`` line in its order, resolved through ``rtpmap`` or the
        static payload types; a format that resolves to nothing is left out."""
        maps = self.rtpmaps
        out: list[RtpMap] = []
        for fmt in self.formats:
            if is_uint(fmt) and len(fmt) <= 3:
                pt = int(fmt)
                found = maps.get(pt) or STATIC_PAYLOAD_TYPES.get(pt)
                if found is not None:
                    out.append(found)
        return tuple(out)

    @property
    def ptime(self) -> float | None:
        return _lenient(self.attribute("ptime"), parse_ptime)

    @property
    def maxptime(self) -> float | None:
        return _lenient(self.attribute("maxptime"), parse_ptime)

    @property
    def rtcp(self) -> Rtcp | None:
        return _lenient(self.attribute("rtcp"), parse_rtcp)

    @property
    def mid(self) -> str | None:
        return self.attribute("mid")

    def with_attributes(self, attributes: Attributes) -> Media:
        return replace(self, attributes=attributes)

    def with_direction(self, direction: Direction) -> Media:
        """Replace the media-level direction attributes with ``direction`` (placed last)."""
        kept = tuple(a for a in self.attributes if not _is_direction(a))
        return replace(self, attributes=(*kept, Attribute(direction.value)))


def _is_direction(attribute: Attribute) -> bool:
    return attribute.value is None and attribute.name in DIRECTIONS


def _lenient(value: str | None, parse: Callable[[str], _T]) -> _T | None:
    if value is None:
        return None
    try:
        return parse(value)
    except SdpParseError:
        return None


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole description (RFC 8866 §5). ``bytes(sdp)`` serializes it."""

    origin: Origin
    session_name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    timings: tuple[Timing, ...] = (Timing(),)
    time_zones: str | None = None
    key: str | None = None
    attributes: Attributes = ()
    media: tuple[Media, ...] = ()
    version: int = 0

    @property
    def direction(self) -> Direction | None:
        """The session-level direction attribute, if any."""
        return direction_of(self.attributes)

    def attribute(self, name: str) -> str | None:
        """The value of the first session-level attribute ``name`` (``""`` for a flag)."""
        found = find(self.attributes, name)
        if found is None:
            return None
        return "" if found.value is None else found.value

    def effective_direction(self, media: Media) -> Direction:
        """Media-level direction, else session-level, else sendrecv (RFC 8866 §6.7)."""
        return media.direction or self.direction or Direction.SENDRECV

    def connection_for(self, media: Media) -> Connection | None:
        """The connection that applies to ``media``: its own, else the session's."""
        return media.connection or self.connection

    def next_version(self) -> SessionDescription:
        """This description with the origin's session version incremented (RFC 3264 §8)."""
        return replace(self, origin=self.origin.next_version())

    def with_media(self, media: tuple[Media, ...]) -> SessionDescription:
        return replace(self, media=media)

    def to_bytes(self) -> bytes:
        """Serialize with CRLF line ends (RFC 8866 §5)."""
        return serialize(self)

    def __bytes__(self) -> bytes:
        return serialize(self)


def serialize(sdp: SessionDescription) -> bytes:
    """Serialize ``sdp``: canonical field order, CRLF after every line, UTF-8."""
    lines = [f"v={sdp.version}", f"o={sdp.origin}", f"s={sdp.session_name}"]
    append = lines.append
    if sdp.information is not None:
        append(f"i={sdp.information}")
    if sdp.uri is not None:
        append(f"u={sdp.uri}")
    lines.extend(f"e={email}" for email in sdp.emails)
    lines.extend(f"p={phone}" for phone in sdp.phones)
    if sdp.connection is not None:
        append(f"c={sdp.connection}")
    lines.extend(f"b={bandwidth}" for bandwidth in sdp.bandwidths)
    for timing in sdp.timings or (Timing(),):
        append(f"t={timing.start} {timing.stop}")
        lines.extend(f"r={repeat}" for repeat in timing.repeats)
    if sdp.time_zones is not None:
        append(f"z={sdp.time_zones}")
    if sdp.key is not None:
        append(f"k={sdp.key}")
    lines.extend(f"a={attribute}" for attribute in sdp.attributes)
    for media in sdp.media:
        port = str(media.port) if media.port_count is None else f"{media.port}/{media.port_count}"
        append(" ".join((f"m={media.media}", port, media.proto, *media.formats)))
        if media.information is not None:
            append(f"i={media.information}")
        lines.extend(f"c={connection}" for connection in media.connections)
        lines.extend(f"b={bandwidth}" for bandwidth in media.bandwidths)
        if media.key is not None:
            append(f"k={media.key}")
        lines.extend(f"a={attribute}" for attribute in media.attributes)
    append("")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")
