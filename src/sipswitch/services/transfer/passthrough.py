"""``tr=p``: the REFER is relayed to the other leg and the transfer happens on that phone.

The relayed REFER is a new request in the other dialog (Call-ID, tags and CSeq are that
dialog's); Refer-To goes as sent, Referred-By is added when missing (RFC 3892). The answer
(202) comes back; the NOTIFYs that follow are in-dialog requests the call relays like any other.
"""

from __future__ import annotations

from sipswitch.services.calls.call import Call
from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.services.transfer.policy import ReferTarget
from sipswitch.sip.message import Response

_COPIED = frozenset(
    {"refer-to", "referred-by", "refer-sub", "content-type", "require", "supported"}
)


def relay(
    call: Call, incoming: IncomingRequest, origin: ServerLeg | ClientLeg, target: ReferTarget
) -> None:
    other = call.b if origin is call.a else call.a
    if other is None or other.dialog is None or other.ended:
        incoming.respond(481)
        return
    request = incoming.request
    headers = [(n, v) for n, v in request.header_items() if n.lower() in _COPIED]
    if target.referred_by is None and origin.dialog is not None:
        headers.append(("Referred-By", str(origin.dialog.remote_uri)))

    def answered(response: Response | None) -> None:
        if response is None:
            incoming.respond(408)
            return
        back = [(n, v) for n, v in response.header_items() if n.lower() == "refer-sub"]
        incoming.respond(response.status, response.reason, headers=back)

    other.request("REFER", body=request.body, headers=headers, callback=answered)
