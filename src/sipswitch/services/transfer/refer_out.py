"""A REFER the switch sends itself (RFC 3515 §2.4): to one end of a call, then the NOTIFYs
followed until a final sipfrag status, or a timeout when none comes (never wait forever)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from sipswitch.services.calls.call import Call
from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Response
from sipswitch.sip.sipfrag import parse_sipfrag


@dataclass(frozen=True, slots=True)
class ReferOutcome:
    """How our REFER ended: ``succeeded`` when the referred call got a 2xx."""

    succeeded: bool
    status: int
    reason: str


async def send_refer(
    call: Call, leg: ServerLeg | ClientLeg, target: str, *, timeout: float = 30.0
) -> ReferOutcome:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[Response | None] = loop.create_future()
    final: asyncio.Future[tuple[int, str]] = loop.create_future()

    def answered(response: Response | None) -> None:
        if not accepted.done():
            accepted.set_result(response)

    def on_notify(incoming: IncomingRequest) -> bool:
        request = incoming.request
        if (request.get("Event") or "").partition(";")[0].strip().lower() != "refer":
            return False
        incoming.respond(200)
        try:
            frag = parse_sipfrag(request.body)
        except SipParseError:
            return True
        state = (request.get("Subscription-State") or "").lower()
        ending = frag.status is not None and (frag.status >= 200 or state.startswith("terminated"))
        if ending and frag.status is not None and not final.done():
            final.set_result((frag.status, frag.reason))
        return True

    referrer = leg.contact if isinstance(leg, ServerLeg | ClientLeg) else None
    headers = [("Refer-To", f"<{target}>")]
    if referrer is not None:
        headers.append(("Referred-By", str(referrer)))
    call.notify_hook = on_notify
    try:
        if leg.request("REFER", headers=headers, callback=answered) is None:
            return ReferOutcome(False, 481, "Call not established")
        try:
            response = await asyncio.wait_for(accepted, timeout)
        except TimeoutError:
            return ReferOutcome(False, 408, "No answer to the REFER")
        if response is None:
            return ReferOutcome(False, 408, "No answer to the REFER")
        if not 200 <= response.status < 300:
            return ReferOutcome(False, response.status, response.reason)
        if (response.get("Refer-Sub") or "").lower().startswith("false"):
            return ReferOutcome(True, response.status, "Accepted (no subscription)")
        try:
            status, reason = await asyncio.wait_for(final, timeout)
        except TimeoutError:
            return ReferOutcome(False, 408, "No NOTIFY with a final status")
        return ReferOutcome(200 <= status < 300, status, reason)
    finally:
        call.notify_hook = None
        with contextlib.suppress(asyncio.InvalidStateError):
            final.cancel()
