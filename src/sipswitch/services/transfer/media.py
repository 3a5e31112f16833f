"""Moving a leg's media with a re-INVITE (RFC 3261 §14; offer/answer RFC 3264).

The switch sends the offer (the other party's SDP) and waits for the answer; the 2xx is ACKed
here. ``None`` means the leg went away or the re-INVITE timed out.
"""

from __future__ import annotations

import asyncio

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
