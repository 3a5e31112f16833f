"""Server transactions: INVITE (RFC 3261 §17.2.1, RFC 6026 §8.5-8.7) and non-INVITE (§17.2.2)."""

from __future__ import annotations

from sipswitch.sip.builders import make_response
from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction.base import Context, Transaction
from sipswitch.sip.transaction.events import RequestReceived
from sipswitch.sip.transaction.keys import Peer, ServerKey
from sipswitch.sip.transaction.tables import (
    INVITE_SERVER,
    NON_INVITE_SERVER,
    Action,
    Input,
    State,
)


def tu_input(status: int) -> Input:
    """The table input a response of ``status`` from the TU is."""
    if status < 200:
        return Input.TU_1XX
    return Input.TU_2XX if status < 300 else Input.TU_3XX_6XX


class ServerTransaction(Transaction[ServerKey]):
    """A server transaction. INVITE or non-INVITE follows from the request's method.

    ``source`` is where the request came from; responses go to ``destination``, worked out
    once from the top Via (§18.2.2). ``merge`` is its merged-request key (§8.2.2.2), if any.
    """

    __slots__ = ("merge", "source")

    def __init__(
        self,
        ctx: Context,
        key: ServerKey,
        request: Request,
        *,
        source: Peer,
        transport: str,
        destination: Peer,
    ) -> None:
        machine = INVITE_SERVER if request.method == "INVITE" else NON_INVITE_SERVER
        super().__init__(ctx, machine, key, request, destination=destination, transport=transport)
        self.source = source
        self.merge: tuple[str, str, int, str] | None = None

    def begin(self, now: float) -> None:
        """Start the machine's initial timers (the INVITE server's 100 Trying delay)."""
        for timer in self.machine.start:
            self._start(timer, now)

    def on_request(self, request: Request, now: float) -> None:
        """A request that matched: a retransmission, or the ACK (§17.2.3)."""
        self.fire(Input.ACK if request.method == "ACK" else Input.REQUEST, now, request)

    def respond(self, response: Response, now: float) -> None:
        """A response from the TU."""
        self.fire(tu_input(response.status), now, response)

    def matches_legacy(self, request: Request) -> bool:
        """The To-tag part of RFC 2543 matching (§17.2.3): an ACK carries the tag of our
        response, any other request the tag of the request that created the transaction."""
        tag = request.to.tag
        last = self._last_msg
        if request.method == "ACK" and isinstance(last, Response):
            return tag == last.to.tag
        return tag == self.request.to.tag

    def _act_specific(self, action: Action, now: float, message: Request | Response | None) -> None:
        if action is Action.SEND:
            if isinstance(message, Response):
                self._send(message)
                if self.machine is NON_INVITE_SERVER and self.state is State.COMPLETED:
                    # kept only to absorb retransmissions for Timer J (up to 32 s): hold the
                    # fields matching needs, not the whole request and its parsed views, and
                    # of the response the bytes resent plus what counting them reads, so live
                    # transactions cost less memory and less of the collector's time
                    self.request = _slim(self.request)
                    self._last_msg = _slim_response(message)
        elif action is Action.PASS_UP:
            if isinstance(message, Request) and not self.silent:
                self.ctx.emit(RequestReceived(message, self.key, self.source, self.transport))
        elif (
            action is Action.SEND_TRYING
            and self._last is None
            and self.ctx.config.trying is not None
        ):
            trying = make_response(self.request, 100)
            stamp = self.request.get("Timestamp")
            if stamp is not None:  # §8.2.6.1
                trying.add("Timestamp", stamp)
            self._send(trying)


#: what a completed non-INVITE transaction still reads of its request (§17.2.3 matching)
_KEPT = frozenset({"via", "from", "to", "call-id", "cseq"})


def _slim(request: Request) -> Request:
    """The request with only the fields matching reads (shared, not copied)."""
    slim = Request(request.method, request.uri_text, version=request.version)
    slim.headers = [h for h in request.headers if h[0] in _KEPT]
    return slim


def _slim_response(response: Response) -> Response:
    """The response's status line and the fields metrics and traces read; its bytes are kept
    apart (``_last``) and are what a retransmission resends."""
    slim = Response(response.status, response.reason, version=response.version)
    slim.headers = [h for h in response.headers if h[0] in _KEPT]
    return slim
