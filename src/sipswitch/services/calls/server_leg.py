"""The leg the switch answers: the caller's INVITE, as a UAS (RFC 3261 §13.3, §12.1.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from sipswitch.services.calls.dialog_leg import Destination, DialogLeg
from sipswitch.services.calls.events import Ended, Failed, LegEvent
from sipswitch.services.calls.plumbing import Peer, Plumbing
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.sip.builders import make_response
from sipswitch.sip.dialog import Dialog, DialogState, uas_dialog_from_request
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request, Response
from sipswitch.sip.uri import SipUri

SDP = "application/sdp"


class ServerLeg(DialogLeg):
    """The caller's side of a call. Raises events to ``listener`` (the call)."""

    def __init__(
        self, plumbing: Plumbing, incoming: IncomingRequest, listener: Callable[[LegEvent], None]
    ) -> None:
        self.plumbing = plumbing
        self.incoming = incoming
        self.invite = incoming.request
        self.listener = listener
        self.peer: Peer = (incoming.transport, incoming.source[0], incoming.source[1])
        self.local_tag = incoming.to_tag
        self.contact = plumbing.contact(self.peer)
        self.dialog: Dialog | None = None
        self.final_status: int | None = None
        self.ended = False
        self._answer: Response | None = None
        self._retransmit: asyncio.TimerHandle | None = None
        self._interval = plumbing.t1
        self._deadline = 0.0
        self.on_request: Callable[[IncomingRequest], None] = lambda req: req.respond(501)

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def destination(self) -> Destination:
        """Where requests to the far end go: its Contact (the remote target, §12.1.1) at the
        peer it sent from; the peer's address when the Contact is not a SIP URI."""
        try:
            contacts = self.invite.contacts
        except SipParseError:
            contacts = []
        for contact in contacts:
            if isinstance(contact.uri, SipUri):
                return Destination(contact.uri, self.peer)
        return Destination(SipUri(self.peer[1], port=self.peer[2]), self.peer)

    # -- answering the INVITE --------------------------------------------------------------------
    def provisional(self, status: int, reason: str | None = None, sdp: bytes | None = None) -> None:
        if self.final_status is not None:
            return
        headers: list[tuple[str, str]] = [("Contact", str(self.contact))]
        if sdp:
            headers.append(("Content-Type", SDP))
        self.incoming.respond(
            status, reason, headers=headers, body=sdp or b"", copy_record_route=True
        )

    def answer(self, sdp: bytes | None) -> None:
        """200 OK with our Contact; retransmitted until the ACK (§13.3.1.4)."""
        if self.final_status is not None:
            return
        self.final_status = 200
        headers: list[tuple[str, str]] = [("Contact", str(self.contact))]
        if sdp:
            headers.append(("Content-Type", SDP))
        response = make_response(
            self.invite,
            200,
            to_tag=self.local_tag,
            headers=tuple(headers),
            body=sdp or b"",
            copy_record_route=True,
        )
        self._answer = response
        self.dialog = uas_dialog_from_request(
            self.invite, self.local_tag, self.contact, state=DialogState.CONFIRMED
        )
        self.incoming.answered = True
        self.plumbing.endpoint.send_response(response, self.incoming.tx)
        wait = 64 * self.plumbing.t1
        self._deadline = self.plumbing.clock.now() + wait
        # over UDP the 200 is retransmitted until the ACK; over a stream it is sent once, but
        # the ACK is awaited just as long (RFC 6026 §8.1, Timer L)
        udp = self.peer[0] == "udp"
        self._retransmit = self.plumbing.later(self._interval if udp else wait, self._resend)

    def _resend(self) -> None:
        self._retransmit = None
        if self._answer is None or self.ended:
            return
        if self.peer[0] != "udp" or self.plumbing.clock.now() >= self._deadline:
            self.bye("no ACK")  # §13.3.1.4: the dialog is confirmed, the session is ended
            return
        self.plumbing.endpoint.send_stateless(self._answer, (self.peer[1], self.peer[2]), "udp")
        self._interval = min(self._interval * 2, self.plumbing.t2)
        self._retransmit = self.plumbing.later(self._interval, self._resend)

    def on_ack(self, _ack: Request) -> None:
        self._answer = None
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None

    def reject(
        self, status: int, reason: str | None = None, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        if self.final_status is not None:
            return
        self.final_status = status
        self.incoming.respond(status, reason, headers=tuple(headers))

    def cancelled(self) -> None:
        """The caller sent CANCEL (§9.2): 487 to the INVITE, then the call hears about it."""
        if self.final_status is not None:
            return
        self.reject(487)
        self.ended = True
        self.listener(Failed(487, "Request Terminated"))

    # -- in the dialog ----------------------------------------------------------------------------
    def ack_2xx(self, response: Response) -> None:
        """ACK a 2xx to a re-INVITE we sent to the caller."""
        if self.dialog is None:
            return
        ack = self.dialog.create_ack(response, via=self.plumbing.sent_by(self.peer))
        self.plumbing.endpoint.send_stateless(ack, (self.peer[1], self.peer[2]), self.peer[0])

    def bye(self, reason: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Hang up an answered leg (BYE), or refuse an unanswered one (480)."""
        if self.ended:
            return
        if self.dialog is None:
            self.reject(480, "Temporarily Unavailable")
        else:
            self.request("BYE", headers=headers)
        self._end(reason)

    def _end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        self.on_ack(self.invite)  # stop retransmitting
        if self.dialog is not None:
            self.dialog.terminate()
        self.listener(Ended(reason))
