"""Helpers a B2BUA needs on the SDP it relays: hold detection, NAT fix-up, a media summary."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import replace
from typing import NamedTuple

from sipswitch.sdp.attributes import Attribute, Direction, is_uint, parse_rtcp
from sipswitch.sdp.errors import SdpParseError
from sipswitch.sdp.model import Connection, Media, SessionDescription

#: RFC 1918, RFC 6598 shared (CGNAT), link-local, loopback.
_PRIVATE_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "127.0.0.0/8",
    )
)
#: Unique local (RFC 4193), link-local, loopback.
_PRIVATE_V6 = tuple(ipaddress.IPv6Network(n) for n in ("fc00::/7", "fe80::/10", "::1/128"))
_UNSPECIFIED = frozenset({"0.0.0.0", "::"})
_HELD = frozenset({Direction.SENDONLY, Direction.INACTIVE})


@functools.lru_cache(maxsize=4096)
def is_private_address(address: str) -> bool:
    """Whether ``address`` is an IP literal in a private, shared, link-local or loopback range.

    Host names and the unspecified address (the RFC 2543 hold marker) are not private.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped
        if mapped is None:
            return any(ip in net for net in _PRIVATE_V6)
        ip = mapped
    return any(ip in net for net in _PRIVATE_V4)


def media_on_hold(sdp: SessionDescription, media: Media) -> bool:
    """Whether the peer holds ``media``: sendonly or inactive, or ``c=`` 0.0.0.0 (RFC 3264 §8.4)."""
    if media.port == 0:
        return False
    if sdp.effective_direction(media) in _HELD:
        return True
    connection = sdp.connection_for(media)
    return connection is not None and connection.address in _UNSPECIFIED


def is_on_hold(sdp: SessionDescription) -> bool:
    """Whether every stream that is not rejected is on hold (and there is at least one)."""
    active = [m for m in sdp.media if m.port != 0]
    return bool(active) and all(media_on_hold(sdp, m) for m in active)


def nat_fixup(sdp: SessionDescription, address: str, *, rtcp: bool = True) -> SessionDescription:
    """Rewrite private ``c=`` addresses, session and media level, to ``address``.

    Ports, the origin and everything else are kept; the address type follows ``address``.
    With ``rtcp`` (the default) an ``a=rtcp`` (RFC 3605) naming a private address is rewritten
    too, since it is the RTCP connection address. Returns ``sdp`` itself if nothing changed.
    """
    addrtype = "IP6" if ":" in address else "IP4"
    connection = _fix(sdp.connection, address, addrtype)
    media = tuple(_fix_media(m, address, addrtype, rtcp) for m in sdp.media)
    if connection is sdp.connection and all(a is b for a, b in zip(media, sdp.media, strict=True)):
        return sdp
    return replace(sdp, connection=connection, media=media)


def _fix(connection: Connection | None, address: str, addrtype: str) -> Connection | None:
    if connection is None or connection.nettype != "IN":
        return connection
    if not is_private_address(connection.address):
        return connection
    return replace(connection, address=address, addrtype=addrtype)


def _fix_media(media: Media, address: str, addrtype: str, rtcp: bool) -> Media:
    connections = tuple(_fix(c, address, addrtype) or c for c in media.connections)
    changed = any(a is not b for a, b in zip(connections, media.connections, strict=True))
    attributes = media.attributes
    if rtcp:
        attributes = tuple(_fix_rtcp(a, address, addrtype) for a in attributes)
        changed = changed or any(
            a is not b for a, b in zip(attributes, media.attributes, strict=True)
        )
    if not changed:
        return media
    return replace(media, connections=connections, attributes=attributes)


def _fix_rtcp(attribute: Attribute, address: str, addrtype: str) -> Attribute:
    if attribute.name != "rtcp" or attribute.value is None:
        return attribute
    try:
        value = parse_rtcp(attribute.value)
    except SdpParseError:
        return attribute
    if value.address is None or value.nettype != "IN" or not is_private_address(value.address):
        return attribute
    fixed = replace(value, address=address, addrtype=addrtype)
    return Attribute("rtcp", str(fixed))


class MediaSummary(NamedTuple):
    """Where one stream's media goes, and how."""

    media: str
    address: str | None
    port: int
    direction: Direction
    codecs: tuple[str, ...]


def media_summary(sdp: SessionDescription) -> tuple[MediaSummary, ...]:
    """One entry per m-line: type, connection address, port, effective direction, and codec
    names (``PCMU/8000``; a format that does not resolve is listed as it is)."""
    out: list[MediaSummary] = []
    for media in sdp.media:
        connection = sdp.connection_for(media)
        maps = {str(c.payload_type): c.name for c in media.codecs()}
        names = tuple(maps.get(f, f) if is_uint(f) else f for f in media.formats)
        out.append(
            MediaSummary(
                media.media,
                None if connection is None else connection.address,
                media.port,
                sdp.effective_direction(media),
                names,
            )
        )
    return tuple(out)
