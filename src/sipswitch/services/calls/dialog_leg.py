"""What both kinds of leg do once their dialog exists: take requests from the far end, send
requests to it (RFC 3261 §12.2)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sipswitch.services.calls.plumbing import Peer, Plumbing, ResponseCallback
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.sip.dialog import Dialog
from sipswitch.sip.message import Request
from sipswitch.sip.transaction.keys import ClientKey
from sipswitch.sip.uri import SipUri


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a leg goes: the Request-URI, and the peer (transport, ip, port) to send it to."""

    uri: SipUri
    peer: Peer


class DialogLeg:
    """Mixin of the two legs; they provide the attributes declared here."""

    plumbing: Plumbing
    dialog: Dialog | None
    peer: Peer
    on_request: Callable[[IncomingRequest], None]

    def _end(self, reason: str) -> None:
        raise NotImplementedError

    def drop(self, reason: str) -> None:
        """The far end is gone (its dialog died, or it stopped answering): end the leg without
        a BYE; the call hears :class:`~sipswitch.services.calls.events.Ended`."""
        self._end(reason)

    def receive(self, incoming: IncomingRequest) -> None:
        """A request from the far end inside our dialog: BYE ends the leg, the rest go to
        :attr:`on_request` (the call relays them); out of order or unknown → 500/481."""
        if self.dialog is None:
            incoming.respond(481)
            return
        status = self.dialog.on_request(incoming.request).status
        if status is not None:
            incoming.respond(status)
            return
        if incoming.request.method == "BYE":
            incoming.respond(200)
            self._end(bye_reason(incoming.request))
            return
        self.on_request(incoming)

    def request(
        self,
        method: str,
        *,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        callback: ResponseCallback | None = None,
    ) -> ClientKey | None:
        """Send a request to the far end inside the dialog (None when there is none yet)."""
        if self.dialog is None:
            return None
        request = self.dialog.create_request(
            method, via=self.plumbing.sent_by(self.peer), body=body, headers=headers
        )
        return self.plumbing.send(request, self.peer, callback or (lambda _r: None))


def bye_reason(bye: Request) -> str:
    """The hang-up reason: the BYE's Reason header (RFC 3326) when present."""
    try:
        reasons = bye.reasons
    except ValueError:
        reasons = []
    for reason in reasons:
        if reason.text:
            return reason.text
    return "remote end hung up"
