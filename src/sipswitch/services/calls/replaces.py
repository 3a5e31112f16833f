"""An INVITE with Replaces (RFC 3891) for a dialog the switch holds.

The dialog is looked up by Call-ID and our tag (the ``to-tag``), and the peer's tag must match
the ``from-tag`` (§3). No such dialog, or an early dialog we did not initiate: 481; a
confirmed dialog with ``early-only``: 486; a dialog already ended: 603. The replaced leg
may be either side of an answered call (the caller's, or the answering far end's): the new
caller's offer goes to the other side in a re-INVITE, that side's answer answers the new
INVITE, and the replaced leg gets BYE with Reason "replaced". An early dialog we placed (a
callee still ringing) cannot be replaced (486).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sipswitch.sdp.errors import SdpParseError
from sipswitch.sdp.parser import parse_sdp
from sipswitch.services.calls.call import Call
from sipswitch.services.calls.model import Leg
from sipswitch.services.calls.server_leg import SDP, ServerLeg
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Response
from sipswitch.sip.values import Replaces, parse_replaces


class ReplaceRefused(Exception):
    def __init__(self, status: int, reason: str | None = None) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


def replaces_of(incoming: IncomingRequest) -> Replaces | None:
    """The request's Replaces, if any; exactly one, parsable (§6.1, else 400)."""
    values = incoming.request.get_all("Replaces")
    if not values:
        return None
    if len(values) > 1:
        raise ReplaceRefused(400, "More than one Replaces")
    try:
        return parse_replaces(values[0])
    except SipParseError:
        raise ReplaceRefused(400, "Bad Replaces") from None


def _remote_tag(leg: Leg) -> str | None:
    if leg.dialog is not None:
        return leg.dialog.remote_tag
    if isinstance(leg, ServerLeg):
        return leg.invite.from_.tag
    return None


def check(
    leg: Leg | None, call: Call | None, replaces: Replaces, source_ip: str
) -> tuple[Call, Leg]:
    """The call and the leg the new INVITE may replace; else :class:`ReplaceRefused` (§3).

    Authorization (RFC 3891 §7): only a request from an address one of the call's parties
    already uses may replace a leg; knowing the dialog identifiers is not enough.
    """
    if leg is None or call is None or (_remote_tag(leg) or "") != replaces.from_tag:
        raise ReplaceRefused(481)
    parties = {call.a.peer[1]} | ({call.b.peer[1]} if call.b is not None else set())
    if source_ip not in parties:
        raise ReplaceRefused(403, "Replaces not authorized")
    if leg.ended:
        raise ReplaceRefused(603, "Declined: the dialog has ended")
    confirmed = leg.dialog is not None and leg.final_status is not None
    if not confirmed:
        if isinstance(leg, ServerLeg):
            raise ReplaceRefused(481)  # an early dialog we did not initiate
        raise ReplaceRefused(486, "Replacing a ringing call is not supported")
    if replaces.early_only:
        raise ReplaceRefused(486)
    if call.b is None or (leg is not call.a and leg is not call.b) or call.transferring:
        raise ReplaceRefused(486, "Only a side of an answered call can be replaced")
    return call, leg


async def take_over(call: Call, old: Leg, incoming: IncomingRequest) -> None:
    """Offer the new caller's SDP to the side bridged with ``old``; on its answer, the new
    caller takes ``old``'s place and ``old`` gets BYE. On failure the call goes on and the
    INVITE is refused."""
    kept = call.other(old)
    body = incoming.request.body
    if kept is None or (old is not call.a and old is not call.b):
        incoming.respond(481)
        return
    offer = _continue(call.sdp_seen_by(kept), body) if body else None
    response = await _reinvite(kept, offer)
    if response is None or not 200 <= response.status < 300:
        incoming.respond(488 if response is None else response.status, "Not replaced")
        return
    if old is not call.a and old is not call.b:  # the call changed meanwhile
        incoming.respond(481)
        return
    call.replace(old, incoming, response.body or None, offer)


async def _reinvite(leg: Leg, sdp: bytes | None) -> Response | None:
    if leg.ended or leg.dialog is None:
        return None
    done: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()

    def answered(response: Response | None) -> None:
        if response is not None and 200 <= response.status < 300:
            leg.ack_2xx(response)
        if not done.done():
            done.set_result(response)

    headers = [("Content-Type", SDP)] if sdp else []
    if leg.request("INVITE", body=sdp or b"", headers=headers, callback=answered) is None:
        return None
    return await done


def _continue(previous: bytes | None, sdp: bytes) -> bytes:
    """``sdp`` as the next version of the session the far end knows (RFC 3264 §8)."""
    if not previous:
        return sdp
    try:
        seen, offer = parse_sdp(previous), parse_sdp(sdp)
    except SdpParseError:
        return sdp
    return bytes(replace(offer, origin=seen.origin.next_version()))
