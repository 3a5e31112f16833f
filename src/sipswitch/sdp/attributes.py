"""Attributes (RFC 8866 §5.13, §6) and typed views of the ones the switch uses.

Attributes are kept as ``(name, value)`` pairs in their original order, so unknown ones pass
through untouched. The typed parsers here (``rtpmap``, ``fmtp``, ``rtcp``, ``ptime``...) raise
:class:`SdpParseError`; the accessors on the model are lenient and treat a malformed value as
absent, so a peer's odd attribute never breaks a call.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sipswitch.sdp.errors import SdpParseError


def is_uint(text: str) -> bool:
    """Whether ``text`` is a non-empty run of ASCII digits."""
    return text.isascii() and text.isdigit()


@dataclass(frozen=True, slots=True)
class Attribute:
    """One ``a=`` line: ``a=name`` (``value`` is None) or ``a=name:value`` (value verbatim)."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


Attributes = tuple[Attribute, ...]


def find(attributes: Attributes, name: str) -> Attribute | None:
    """The first attribute called ``name`` (names compare exactly)."""
    for attribute in attributes:
        if attribute.name == name:
            return attribute
    return None


def values(attributes: Attributes, name: str) -> tuple[str, ...]:
    """The values of every valued attribute called ``name``, in order."""
    return tuple(a.value for a in attributes if a.name == name and a.value is not None)


def without(attributes: Attributes, names: Iterable[str]) -> Attributes:
    """``attributes`` less every one whose name is in ``names``."""
    drop = frozenset(names)
    return tuple(a for a in attributes if a.name not in drop)


class Direction(enum.StrEnum):
    """Stream direction attributes (RFC 8866 §6.7); ``sendrecv`` is the default."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    @classmethod
    def of(cls, sends: bool, receives: bool) -> Direction:
        if sends:
            return cls.SENDRECV if receives else cls.SENDONLY
        return cls.RECVONLY if receives else cls.INACTIVE

    def answer(self, wanted: Direction | None = None) -> Direction:
        """The direction to answer this offered one with, given what we want (RFC 3264 §6.1).

        We may send only if the offerer receives, and receive only if it sends: sendonly is
        answered recvonly, recvonly sendonly, inactive inactive; ``wanted`` narrows further.
        """
        sends = wanted is None or wanted.sends
        receives = wanted is None or wanted.receives
        return Direction.of(self.receives and sends, self.sends and receives)


DIRECTIONS = frozenset(d.value for d in Direction)


def direction_of(attributes: Attributes) -> Direction | None:
    """The first flag direction attribute in ``attributes``, if any."""
    for attribute in attributes:
        if attribute.value is None and attribute.name in DIRECTIONS:
            return Direction(attribute.name)
    return None


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`` (RFC 8866 §6.6)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    @property
    def name(self) -> str:
        """``encoding/clock[/channels]``, as in the attribute."""
        tail = "" if self.channels is None else f"/{self.channels}"
        return f"{self.encoding}/{self.clock_rate}{tail}"

    def same_codec(self, other: RtpMap) -> bool:
        """Same encoding (case-insensitive), clock rate and channel count (absent means 1)."""
        return (
            self.encoding.lower() == other.encoding.lower()
            and self.clock_rate == other.clock_rate
            and (self.channels or 1) == (other.channels or 1)
        )

    def __str__(self) -> str:
        return f"{self.payload_type} {self.name}"


def parse_rtpmap(value: str) -> RtpMap:
    pt, _, rest = value.strip().partition(" ")
    pieces = rest.strip().split("/")
    if not is_uint(pt) or int(pt) > 127:
        raise SdpParseError(f"rtpmap: bad payload type {pt!r}")
    if len(pieces) not in (2, 3) or not pieces[0] or not is_uint(pieces[1]):
        raise SdpParseError(f"rtpmap: bad encoding {rest!r}")
    channels = None
    if len(pieces) == 3:
        if not is_uint(pieces[2]):
            raise SdpParseError(f"rtpmap: bad channel count {pieces[2]!r}")
        channels = int(pieces[2])
    return RtpMap(int(pt), pieces[0], int(pieces[1]), channels)


#: Static audio payload types of RFC 3551 §6, known without an rtpmap.
STATIC_PAYLOAD_TYPES: dict[int, RtpMap] = {
    pt: RtpMap(pt, enc, rate, ch)
    for pt, enc, rate, ch in (
        (0, "PCMU", 8000, None),
        (3, "GSM", 8000, None),
        (4, "G723", 8000, None),
        (5, "DVI4", 8000, None),
        (6, "DVI4", 16000, None),
        (7, "LPC", 8000, None),
        (8, "PCMA", 8000, None),
        (9, "G722", 8000, None),
        (10, "L16", 44100, 2),
        (11, "L16", 44100, None),
        (12, "QCELP", 8000, None),
        (13, "CN", 8000, None),
        (14, "MPA", 90000, None),
        (15, "G728", 8000, None),
        (16, "DVI4", 11025, None),
        (17, "DVI4", 22050, None),
        (18, "G729", 8000, None),
    )
}


@dataclass(frozen=True, slots=True)
class Fmtp:
    """``a=fmtp:<format> <parameters>`` (RFC 8866 §6.15); parameters kept verbatim."""

    format: str
    params: str

    @property
    def parameters(self) -> tuple[tuple[str, str | None], ...]:
        """The ``;``-separated ``name[=value]`` items, e.g. ``(("0-16", None),)``."""
        out: list[tuple[str, str | None]] = []
        for item in self.params.split(";"):
            name, eq, value = item.partition("=")
            name = name.strip()
            if name:
                out.append((name, value.strip() if eq else None))
        return tuple(out)

    def __str__(self) -> str:
        return f"{self.format} {self.params}"


def parse_fmtp(value: str) -> Fmtp:
    fmt, _, params = value.strip().partition(" ")
    if not fmt:
        raise SdpParseError("fmtp: no format")
    return Fmtp(fmt, params.strip())


@dataclass(frozen=True, slots=True)
class Rtcp:
    """``a=rtcp:<port> [IN <addrtype> <address>]`` (RFC 3605)."""

    port: int
    nettype: str | None = None
    addrtype: str | None = None
    address: str | None = None

    def __str__(self) -> str:
        if self.address is None:
            return str(self.port)
        return f"{self.port} {self.nettype} {self.addrtype} {self.address}"


def parse_rtcp(value: str) -> Rtcp:
    fields = value.split()
    if len(fields) not in (1, 4) or not is_uint(fields[0]) or int(fields[0]) > 65535:
        raise SdpParseError(f"rtcp: bad value {value!r}")
    if len(fields) == 1:
        return Rtcp(int(fields[0]))
    return Rtcp(int(fields[0]), fields[1], fields[2], fields[3])


def parse_ptime(value: str) -> float:
    """``ptime``/``maxptime`` in milliseconds (RFC 8866 §6.4, §6.5): a positive number."""
    text = value.strip()
    whole, dot, frac = text.partition(".")
    if not is_uint(whole) or (dot and not is_uint(frac)):
        raise SdpParseError(f"bad packet time {value!r}")
    result = float(text)
    if result <= 0:
        raise SdpParseError(f"bad packet time {value!r}")
    return result
