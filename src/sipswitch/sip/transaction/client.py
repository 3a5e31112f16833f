"""Client transactions: INVITE (RFC 3261 §17.1.1, RFC 6026 §8.4) and non-INVITE (§17.1.2),
and the requests a client builds from its INVITE: the ACK of a non-2xx final response
(§17.1.1.3) and CANCEL (§9.1).
"""

from __future__ import annotations

from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction.base import Context, Transaction
from sipswitch.sip.transaction.events import ResponseReceived
from sipswitch.sip.transaction.keys import ClientKey, Peer
from sipswitch.sip.transaction.tables import INVITE_CLIENT, NON_INVITE_CLIENT, Action, Input

_ACK_COPIED = frozenset({"from", "call-id", "route", "max-forwards"})
_CANCEL_COPIED = frozenset({"from", "to", "call-id", "route", "max-forwards"})


def response_input(status: int) -> Input:
    """The table input a received response of ``status`` is."""
    if status < 200:
        return Input.R1XX
    return Input.R2XX if status < 300 else Input.R3XX_6XX


def _derive(request: Request, method: str, copied: frozenset[str], to: str | None) -> Request:
    """A request on the same branch as ``request``: one Via (its top one), the same CSeq number,
    Request-URI, From, Call-ID, Route and Max-Forwards; To from ``to`` when given."""
    out = Request(method, request.uri_text)
    headers = out.headers
    via_done = False
    for key, name, value in request.headers:
        if key == "via":
            if not via_done:
                headers.append((key, name, str(request.top_via)))
                via_done = True
        elif key == "to":
            headers.append((key, name, value if to is None else to))
        elif key == "cseq":
            headers.append((key, name, f"{request.cseq.seq} {method}"))
        elif key in copied:
            headers.append((key, name, value))
    if "max-forwards" not in copied or request.get("Max-Forwards") is None:
        out.set("Max-Forwards", "70")
    return out


def build_ack(request: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response to ``request`` (§17.1.1.3).

    Same branch (the request's top Via, alone), Request-URI, Call-ID, From and CSeq number;
    To from the response (it carries the tag); the request's Route header fields; no body.
    """
    return _derive(request, "ACK", _ACK_COPIED, response.get("To"))


def build_cancel(request: Request) -> Request:
    """A CANCEL for ``request`` (§9.1): same branch, Request-URI, Call-ID, From, To, CSeq
    number and Route set as the request it cancels."""
    return _derive(request, "CANCEL", _CANCEL_COPIED, None)


class ClientTransaction(Transaction[ClientKey]):
    """A client transaction. INVITE or non-INVITE follows from the request's method.

    ``cancel_pending`` is set when the user asked to CANCEL before any provisional response
    arrived; the layer sends the CANCEL on the first one (§9.1).
    """

    __slots__ = ("_ack", "cancel_pending", "sent_by")

    def __init__(
        self, ctx: Context, key: ClientKey, request: Request, destination: Peer, transport: str
    ) -> None:
        machine = INVITE_CLIENT if request.method == "INVITE" else NON_INVITE_CLIENT
        super().__init__(ctx, machine, key, request, destination=destination, transport=transport)
        self.sent_by = request.top_via.sent_by.lower()
        self.cancel_pending = False
        self._ack: tuple[bytes, Request] | None = None

    def begin(self, now: float) -> None:
        """Send the request and start the machine's initial timers (A and B, or E and F)."""
        self._send(self.request)
        for timer in self.machine.start:
            self._start(timer, now)

    def on_response(self, response: Response, now: float) -> None:
        self.fire(response_input(response.status), now, response)

    def _act_specific(self, action: Action, now: float, message: Request | Response | None) -> None:
        if not isinstance(message, Response):
            return
        if action is Action.PASS_UP:
            self.ctx.emit(ResponseReceived(message, self.key))
        elif action is Action.SEND_ACK:
            if self._ack is None:
                ack = build_ack(self.request, message)
                self._ack = (ack.to_bytes(), ack)
            self.ctx.transmit(self, *self._ack)
