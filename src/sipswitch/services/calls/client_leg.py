"""A leg the switch places: an outgoing INVITE as a UAC (RFC 3261 §13.2, §12.1.2), with one
digest round (§22.2), 3xx following, CANCEL (§9.1) and the late-2xx rule (ACK then BYE)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sipswitch.services.calls.dialog_leg import Destination as Destination  # noqa: PLC0414 - re-exported
from sipswitch.services.calls.dialog_leg import DialogLeg
from sipswitch.services.calls.events import Answered, Ended, Failed, LegEvent, Ringing, Trying
from sipswitch.services.calls.plumbing import Peer, Plumbing
from sipswitch.services.calls.server_leg import SDP
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.sip.address import Address
from sipswitch.sip.builders import new_branch, new_tag
from sipswitch.sip.dialog import Dialog, uac_dialog_from_response
from sipswitch.sip.digest import DigestClient
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request, Response
from sipswitch.sip.transaction.keys import ClientKey
from sipswitch.sip.uri import SipUri

MAX_REDIRECTS = 3
#: marks a ``user@local`` leg the switch sends to itself (see ``planner``)
LOOP_HEADER = "X-Sipswitch-Local"


def loop_token(secret: bytes, call_id: str, from_tag: str, uri: SipUri) -> str:
    """The HMAC a looped INVITE carries: bound to its Call-ID, From tag and called account."""
    message = f"{call_id}\n{from_tag}\n{uri.user or ''}@{uri.host.lower()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


@dataclass(slots=True)
class LegSetup:
    """What the outgoing INVITE says."""

    from_address: Address  # without tag
    to_address: Address
    sdp: bytes | None
    max_forwards: int = 70
    headers: tuple[tuple[str, str], ...] = ()
    credentials: DigestClient | None = None
    follow_redirects: bool = True
    resolve: Callable[[SipUri], Destination | None] | None = field(default=None)
    #: set for a leg looped back to ourselves: the INVITE carries :data:`LOOP_HEADER`
    loop_key: bytes | None = field(default=None, repr=False)


class ClientLeg(DialogLeg):
    """The callee's side of a call. Raises events to ``listener``."""

    def __init__(
        self,
        plumbing: Plumbing,
        destination: Destination,
        setup: LegSetup,
        listener: Callable[[LegEvent], None],
    ) -> None:
        self.plumbing = plumbing
        self.destination = destination
        self.peer: Peer = destination.peer
        self.setup = setup
        self.listener = listener
        self.call_id = plumbing.call_ids()
        self.local_tag = new_tag()
        self.contact = plumbing.contact(destination.peer)
        self.dialog: Dialog | None = None
        self._invite: Request | None = None
        self.tx: ClientKey | None = None
        self.cseq = 1
        self.final_status: int | None = None
        self.cancelling = False
        self.ended = False
        self._challenged = False
        self._redirects = 0
        self.on_request: Callable[[IncomingRequest], None] = lambda req: req.respond(501)

    # -- the INVITE -------------------------------------------------------------------------------
    @property
    def invite(self) -> Request:
        """The INVITE last sent (the leg must have been started)."""
        if self._invite is None:
            raise RuntimeError("the leg has not been started")
        return self._invite

    def start(self) -> None:
        self._send_invite(())

    def _send_invite(self, auth: tuple[tuple[str, str], ...]) -> None:
        setup = self.setup
        via = self.plumbing.sent_by(self.peer).via(new_branch())
        headers: list[tuple[str, str]] = [
            ("Via", str(via)),
            ("Max-Forwards", str(setup.max_forwards)),
            ("From", str(setup.from_address.with_tag(self.local_tag))),
            ("To", str(setup.to_address)),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} INVITE"),
            ("Contact", str(self.contact)),
            ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REFER"),
            ("User-Agent", self.plumbing.user_agent),
            *setup.headers,
            *auth,
        ]
        if setup.loop_key is not None:
            token = loop_token(setup.loop_key, self.call_id, self.local_tag, self.destination.uri)
            headers.append((LOOP_HEADER, token))
        if setup.sdp:
            headers.append(("Content-Type", SDP))
        self._invite = Request("INVITE", self.destination.uri, headers, setup.sdp or b"")
        self.tx = self.plumbing.send(self._invite, self.peer, self._on_response)

    def _on_response(self, response: Response | None) -> None:
        if response is None:  # Timer B or a transport error
            self._fail(408 if not self.cancelling else 487, "Request Timeout")
            return
        try:
            self._handle(response)
        except SipParseError as exc:  # a malformed answer fails the leg, never the call
            self._fail(502, f"Bad response: {exc.reason}")

    def _handle(self, response: Response) -> None:
        status = response.status
        if status < 200:
            self._provisional(response)
        elif status < 300:
            self._answered(response)
        elif (status in (401, 407) and self._retry_with_auth(response)) or (
            300 <= status < 400 and self._follow(response)
        ):
            return
        else:
            self._fail(status, response.reason)

    def _provisional(self, response: Response) -> None:
        if self.final_status is not None:
            return
        if response.status == 100 or response.to.tag is None:
            self.listener(Trying())
            return
        if self.dialog is None:
            self.dialog = uac_dialog_from_response(self.invite, response)
        if self.cancelling:
            return
        self.listener(Ringing(response.status, response.reason, response.body or None))

    def _answered(self, response: Response) -> None:
        dialog = uac_dialog_from_response(self.invite, response)
        dialog.local_seq = self.cseq
        self.dialog = dialog
        self._ack(response)
        if self.final_status is not None or self.cancelling:
            # a 2xx after we gave up on the leg (or it crossed our CANCEL): ACK, then BYE
            self.final_status = response.status
            self.request("BYE")
            self.ended = True
            return
        self.final_status = response.status
        self.listener(Answered(response.body or None))

    def _ack(self, response: Response) -> None:
        if self.dialog is None:
            return
        ack = self.dialog.create_ack(response, via=self.plumbing.sent_by(self.peer))
        self.plumbing.endpoint.send_stateless(ack, (self.peer[1], self.peer[2]), self.peer[0])

    def on_retransmitted_2xx(self, response: Response) -> None:
        """A 2xx seen again after the transaction (our ACK was lost): ACK again (§13.2.2.4)."""
        self._ack(response)

    def _retry_with_auth(self, response: Response) -> bool:
        client = self.setup.credentials
        if client is None or self._challenged or self.cancelling or self._invite is None:
            return False
        self._challenged = True
        challenges = (
            response.www_authenticate if response.status == 401 else response.proxy_authenticate
        )
        credentials = client.authorize(
            challenges, method="INVITE", uri=self.invite.uri_text, body=self.invite.body or None
        )
        if credentials is None:
            return False
        header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        self.cseq += 1
        self._send_invite(((header, str(credentials)),))
        return True

    def _follow(self, response: Response) -> bool:
        """3xx: try the first Contact we can reach (at most a few hops)."""
        resolve = self.setup.resolve
        if not self.setup.follow_redirects or resolve is None or self.cancelling:
            return False
        if self._redirects >= MAX_REDIRECTS:
            return False
        for contact in sorted(response.contacts, key=lambda c: -c.q):
            if not isinstance(contact.uri, SipUri):
                continue
            target = resolve(contact.uri)
            if target is None:
                continue
            self._redirects += 1
            self.setup.loop_key = None  # the mark never leaves the switch
            self.destination = target
            self.peer = target.peer
            self.setup.to_address = Address(contact.uri.without_params())
            self.call_id = self.plumbing.call_ids()
            self.cseq = 1
            self._challenged = False
            self._send_invite(())
            return True
        return False

    def _fail(self, status: int, reason: str) -> None:
        if self.final_status is not None:
            return
        self.final_status = status
        self.ended = True
        self.listener(Failed(status, reason))

    def cancel(self) -> None:
        """Give up on an unanswered leg (CANCEL); a 2xx that still comes gets ACK + BYE."""
        if self.final_status is not None or self.cancelling:
            return
        self.cancelling = True
        if self.tx is not None:
            self.plumbing.endpoint.cancel(self.tx)

    # -- in the dialog ----------------------------------------------------------------------------
    def ack_2xx(self, response: Response) -> None:
        self._ack(response)

    def bye(self, reason: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        if self.ended:
            return
        if self.final_status is None:
            self.cancel()
            self.ended = True
            return
        self.request("BYE", headers=headers)
        self._end(reason)

    def _end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        if self.dialog is not None:
            self.dialog.terminate()
        self.listener(Ended(reason))
