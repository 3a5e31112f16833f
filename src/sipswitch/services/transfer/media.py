"""Moving a leg's media with a re-INVITE (RFC 3261 §14; offer/answer RFC 3264).

The offer keeps the session the leg already knows: its ``o=`` line is the one the leg saw
last, with the version incremented (RFC 3264 §8), whatever party the media now comes from.
The switch sends the offer (the other party's SDP) and waits for the answer; the 2xx is ACKed
here. ``None`` means the leg went away or the re-INVITE timed out.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sipswitch.sdp.errors import SdpParseError
from sipswitch.sdp.parser import parse_sdp
from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.server_leg import SDP, ServerLeg
from sipswitch.sip.message import Response


async def reinvite(leg: ServerLeg | ClientLeg, sdp: bytes | None) -> Response | None:
    """Send ``sdp`` as a new offer to ``leg``; the final response (2xx already ACKed)."""
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


def accepted(response: Response | None) -> bool:
    return response is not None and 200 <= response.status < 300


def continue_session(previous: bytes | None, sdp: bytes) -> bytes:
    """``sdp`` (another party's description) as the next version of the session a leg saw last
    in ``previous``; unchanged when either does not parse."""
    if not previous:
        return sdp
    try:
        seen = parse_sdp(previous)
        offer = parse_sdp(sdp)
    except SdpParseError:
        return sdp
    return bytes(replace(offer, origin=seen.origin.next_version()))
