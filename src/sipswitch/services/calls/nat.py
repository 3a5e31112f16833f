"""NAT fix-up of relayed SDP: a private address in SDP from a public source is that source."""

from __future__ import annotations

from sipswitch.sdp import b2bua as sdp_b2bua
from sipswitch.sdp.errors import SdpParseError
from sipswitch.sdp.parser import parse_sdp
from sipswitch.services.calls.model import PlannedLeg


def mangle(sdp: bytes, plan: PlannedLeg) -> bytes:
    """The far end's SDP as the caller gets it: fixed up unless the leg says ``ma=false``."""
    if not plan.mangle_sdp:
        return sdp
    return mangle_from(sdp, plan.destination.peer[1])


def mangle_from(sdp: bytes, source_ip: str) -> bytes:
    """Private addresses in SDP from a public source are rewritten to that source."""
    if sdp_b2bua.is_private_address(source_ip):
        return sdp
    try:
        parsed = parse_sdp(sdp)
    except SdpParseError:
        return sdp
    fixed = sdp_b2bua.nat_fixup(parsed, source_ip)
    return sdp if fixed is parsed else bytes(fixed)
