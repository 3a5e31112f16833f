"""Dialog state (RFC 3261 §12): identity, state, and the updates requests and responses make."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sipswitch.sip.address import Address
from sipswitch.sip.dialog.build import ViaSource, build_ack, build_request
from sipswitch.sip.grammar import is_token
from sipswitch.sip.values import MAX_CSEQ, Replaces

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sipswitch.sip.message import Request, Response
    from sipswitch.sip.uri import Uri

#: requests that replace the remote target from their Contact (§12.2, RFC 3311 §5, RFC 6665 §4)
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})
#: requests whose responses create dialogs (§12.1, RFC 6665 §4.1.2.2, RFC 3515 §2.4.4)
DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER"})


class DialogState(enum.StrEnum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogRole(enum.StrEnum):
    """Which side of the dialog-creating request we were on."""

    UAC = "uac"
    UAS = "uas"


class RequestVerdict(enum.StrEnum):
    """What to do with an incoming in-dialog request (§12.2.2); :attr:`status` is the answer."""

    ACCEPT = "accept"
    #: CSeq not above the remote sequence number: answer 500
    OUT_OF_ORDER = "out-of-order"
    #: a To tag that names no dialog we know: answer 481
    NO_DIALOG = "no-dialog"
    #: no To tag: not for the dialog layer (a new dialog, or a standalone request)
    OUT_OF_DIALOG = "out-of-dialog"

    @property
    def status(self) -> int | None:
        if self is RequestVerdict.OUT_OF_ORDER:
            return 500
        if self is RequestVerdict.NO_DIALOG:
            return 481
        return None


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID, local tag and remote tag (§12): the same dialog has mirrored ids at each end.

    A null tag (RFC 2543 peers, §12.1.1/§12.1.2) is the empty string.
    """

    call_id: str
    local_tag: str
    remote_tag: str

    @classmethod
    def of_request(cls, request: Request) -> DialogId | None:
        """The id of the dialog an incoming request belongs to (To tag ours), or None."""
        local = request.to.tag
        if not local:
            return None
        return cls(request.call_id, local, request.from_.tag or "")

    @classmethod
    def of_response(cls, response: Response) -> DialogId | None:
        """The id of the dialog a response to our request belongs to (From tag ours), or None."""
        local = response.from_.tag
        if not local:
            return None
        return cls(response.call_id, local, response.to.tag or "")

    @classmethod
    def of_replaces(cls, replaces: Replaces) -> DialogId:
        """The dialog a Replaces header names, seen by its recipient (RFC 3891 §3)."""
        return cls(replaces.call_id, replaces.to_tag, replaces.from_tag)

    def reversed(self) -> DialogId:
        """The same dialog as the peer names it."""
        return DialogId(self.call_id, self.remote_tag, self.local_tag)

    def __str__(self) -> str:
        return f"{self.call_id};local={self.local_tag};remote={self.remote_tag}"


@dataclass(slots=True, eq=False)
class Dialog:
    """One dialog's state (§12), with field names as the RFC gives them.

    ``local_uri``/``remote_uri`` are kept without their tag parameter. ``local_contact`` is the
    Contact we put in our requests (our local target). ``method`` is the method of the request
    that created the dialog. Build one with :func:`uac_dialog_from_response` or
    :func:`uas_dialog_from_request`.
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: Address
    remote_uri: Address
    remote_target: Uri
    local_contact: Address
    route_set: tuple[Address, ...] = ()
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    state: DialogState = DialogState.EARLY
    role: DialogRole = DialogRole.UAC
    method: str = "INVITE"

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @property
    def next_hop(self) -> Uri:
        """Where in-dialog requests go first: the top route, else the remote target (§8.1.2)."""
        return self.route_set[0].uri if self.route_set else self.remote_target

    @property
    def early(self) -> bool:
        return self.state is DialogState.EARLY

    @property
    def confirmed(self) -> bool:
        return self.state is DialogState.CONFIRMED

    @property
    def terminated(self) -> bool:
        return self.state is DialogState.TERMINATED

    def confirm(self) -> None:
        """Early → confirmed (a UAS calls this when it sends its 2xx)."""
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED

    # -- receiving (§12.2.2) ----------------------------------------------------------------
    def on_request(self, request: Request) -> RequestVerdict:
        """Check and apply an incoming in-dialog request (§12.2.2).

        A CSeq not above the remote sequence number is out of order (the caller answers 500;
        §12.2.2 names "lower", an equal number with a new method is a broken peer too). ACK and
        CANCEL reuse the CSeq of the request they belong to and are not checked. A target
        refresh request replaces the remote target with its Contact; BYE terminates.
        """
        method = request.method
        if method in ("ACK", "CANCEL"):
            return RequestVerdict.ACCEPT
        seq = request.cseq.seq
        if self.remote_seq is not None and seq <= self.remote_seq:
            return RequestVerdict.OUT_OF_ORDER
        self.remote_seq = seq
        if method in TARGET_REFRESH:
            contacts = request.contacts
            if contacts:
                self.remote_target = contacts[0].uri
        if method == "BYE":
            self.terminate()
        return RequestVerdict.ACCEPT

    def on_response(self, response: Response) -> None:
        """Apply a response to a request we sent in this dialog (§12.1.2, §12.2.1.2, §13.2.2.4).

        For the request that created the dialog, while it is early, each 101-299 response
        recomputes the route set and remote target, a 2xx confirms and a non-2xx final
        terminates. Later, a 2xx to a target refresh replaces the remote target; a 481 or 408
        terminates (§12.2.1.2); a final response to BYE terminates unless it asks for
        credentials (401/407).
        """
        status = response.status
        method = response.cseq.method
        if self.state is DialogState.TERMINATED or status < 101:
            return
        if (
            self.state is DialogState.EARLY
            and self.role is DialogRole.UAC
            and method == self.method
        ):
            if status >= 300:
                self.terminate()
                return
            self.route_set = tuple(reversed(response.record_routes))
            self._refresh_target(response)
            if status >= 200:
                self.state = DialogState.CONFIRMED
            return
        bye_done = method == "BYE" and status >= 200 and status not in (401, 407)
        if status in (408, 481) or bye_done:
            self.terminate()
        elif 200 <= status < 300 and method in TARGET_REFRESH:
            self._refresh_target(response)

    def _refresh_target(self, response: Response) -> None:
        contacts = response.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    # -- sending (§12.2.1.1) ----------------------------------------------------------------
    def create_request(
        self,
        method: str,
        *,
        via: ViaSource,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        contact: Address | None = None,
        branch: str | None = None,
        max_forwards: int = 70,
    ) -> Request:
        """A new request within this dialog (§12.2.1.1), with the local CSeq incremented.

        ``via`` gives the Via sent-by: a :class:`SentBy`, or a callable taking the next-hop URI.
        ``contact`` replaces our local target (for a target refresh). ``headers`` are extra
        fields (Content-Type is required with a body). ACK for a 2xx is built by
        :meth:`create_ack`; CANCEL is built from the request it cancels (§9.1), not here.
        """
        if not is_token(method):
            raise ValueError(f"bad method {method!r}")
        if method.upper() == "ACK":
            raise ValueError("build ACK for a 2xx with create_ack (§13.2.2.4)")
        if method.upper() == "CANCEL":
            raise ValueError("CANCEL is built from the request it cancels (§9.1)")
        if self.local_seq is None:
            seq = secrets.randbelow(2**31 - 1) + 1  # §8.1.1.5: below 2**31
        elif self.local_seq >= MAX_CSEQ:
            raise ValueError("local CSeq exhausted")
        else:
            seq = self.local_seq + 1
        if contact is not None and method in TARGET_REFRESH:
            self.local_contact = contact
        request = build_request(
            self,
            method,
            seq,
            via=via,
            body=body,
            headers=headers,
            contact=contact,
            branch=branch,
            max_forwards=max_forwards,
        )
        self.local_seq = seq
        return request

    def create_ack(
        self,
        invite: Response | int,
        *,
        via: ViaSource,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        branch: str | None = None,
        max_forwards: int = 70,
    ) -> Request:
        """The ACK for a 2xx to an INVITE (§13.2.2.4): built like any in-dialog request, with
        the INVITE's CSeq number and method ACK; the local CSeq is not incremented.

        ``invite`` is the 2xx response or the INVITE's CSeq number. Authorization headers of
        the INVITE go in ``headers``.
        """
        if isinstance(invite, int):
            seq = invite
        else:
            cseq = invite.cseq
            if cseq.method != "INVITE" or not 200 <= invite.status < 300:
                raise ValueError("ACK is built here only for a 2xx to an INVITE")
            seq = cseq.seq
        return build_ack(
            self,
            seq,
            via=via,
            body=body,
            headers=headers,
            branch=branch,
            max_forwards=max_forwards,
        )
