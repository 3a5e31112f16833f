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
from sipswitch.sip.transaction.timers import Timer


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

    def _start(self, timer: Timer, now: float) -> None:
        if (
            timer is Timer.J
            and not self.reliable
            and not self.key.legacy
            and self._last is not None
        ):
            # Completed over UDP, it only answers retransmissions until Timer J: the layer keeps
            # a tombstone (the response's bytes) instead of the transaction, which ends here
            self.state = State.TERMINATED
            self.ctx.retire(self, self._last, now)
            return
        super()._start(timer, now)

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
