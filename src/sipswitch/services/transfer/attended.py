"""Attended transfer carried out by the switch (RFC 3891 Replaces in a Refer-To; RFC 5589 §7).

The referrer has two calls through us: the one it REFERs on (its peer there is the
transferee) and the one the Replaces names (the consultation). The switch joins the transferee
to the consultation's far end: re-INVITE the transferee with the far end's SDP (offer), then
the far end with the transferee's answer (offer); the two replaced legs get BYE, the referrer
the final NOTIFY. Supported when the replaced dialog is the consultation's answered side (its
far end is a leg we placed); otherwise the REFER is refused. The referrer may be either side
of its call: the far end with ``tr=c``, or one of our accounts' phones with ``allow_refer``
(a desk phone that placed both calls joins their far ends).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipswitch.services.calls.call import Call
from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.services.calls.service import CallService
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.services.transfer.media import accepted, continue_session, reinvite
from sipswitch.services.transfer.notifier import ReferNotifier
from sipswitch.services.transfer.policy import ReferTarget
from sipswitch.sip.values import Replaces


@dataclass(frozen=True, slots=True)
class Joined:
    """The consultation call and its leg the Replaces names."""

    call: Call
    replaced: ServerLeg | ClientLeg


def find(calls: CallService, call: Call, replaces: Replaces) -> Joined | None:
    """The dialog we hold that ``replaces`` names (our tag is its to-tag, RFC 3891 §3)."""
    leg = calls.leg(replaces.call_id, replaces.to_tag)
    if leg is None:
        return None
    dialog = leg.dialog
    if dialog is None or (dialog.remote_tag or "") != replaces.from_tag:
        return None
    other = calls.call_of(leg)
    if other is None or other is call:
        return None
    return Joined(other, leg)


async def join(
    call: Call,
    joined: Joined,
    incoming: IncomingRequest,
    referrer: ServerLeg | ClientLeg,
    target: ReferTarget,
) -> None:
    other = joined.call
    far = other.b
    if joined.replaced is not other.a or not isinstance(far, ClientLeg) or other.b_plan is None:
        incoming.respond(403, "Only the consultation's answering side can be replaced")
        return
    if call.other(referrer) is None:
        incoming.respond(403, "The call is not bridged")
        return
    call.referrer = referrer
    transferee = call.transferee  # the side that did not REFER: the caller's or the far end
    seen = call.sdp_seen_by(transferee)
    notifier = ReferNotifier(referrer, enabled=target.subscribe)
    incoming.respond(202, headers=[] if target.subscribe else [("Refer-Sub", "false")])
    notifier.progress(100, "Trying")
    call.transferring = True
    offer = continue_session(seen, other.b_sdp) if other.b_sdp else None
    first = await reinvite(transferee, offer)  # the transferee: the far end's media
    if not accepted(first) or first is None:
        notifier.final(first.status if first is not None else 408, "Transferee refused")
        call.transfer_failed()
        return
    mine = continue_session(other.a_sdp, first.body) if first.body else None
    second = await reinvite(far, mine)  # the far end: the transferee's media
    if not accepted(second):
        back = continue_session(offer, seen) if offer and seen else seen
        await reinvite(transferee, back)  # put the transferee back on the referrer
        notifier.final(second.status if second is not None else 408, "Target refused")
        call.transfer_failed()
        return
    released = other.release_b()
    if released is None:
        notifier.final(481, "Call Leg/Transaction Does Not Exist")
        call.transfer_failed()
        return
    leg, plan, cdr = released
    other.a.bye("transferred", headers=[("Reason", 'SIP;cause=200;text="transferred"')])
    notifier.final(200, "OK")
    call.swap(referrer, leg, "transferred", plan=plan, cdr=cdr, sdp=offer)
