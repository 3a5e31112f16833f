"""A transfer the switch carries out itself (``tr=c``): the owner's ``transfer`` dialplan dials
the Refer-To target for the transferee; on answer the transferee is re-INVITEd to the new
party's media, the referrer gets the final NOTIFY and a BYE, and the new leg is bridged.

Offer/answer: the new leg's INVITE carries the transferee's latest SDP as the offer; the new
party's answer is then sent to the transferee as the offer of a re-INVITE, whose answer is
ACKed. (A new party that answers without SDP leaves the transferee's media as it was.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sipswitch.services.calls.call import Call
from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.model import DialOutcome, Expand, PlannedLeg
from sipswitch.services.transfer.notifier import ReferNotifier
from sipswitch.services.transfer.policy import ReferTarget
from sipswitch.sip.address import Address
from sipswitch.sip.message import Request
from sipswitch.sip.uri import SipUri, parse_uri

_KEPT = ("from", "call-id", "max-forwards", "user-agent")
_NOT_COPIED = frozenset({"replaces", "require", "to", "from", "call-id", "cseq", "via", "route"})


def refer_request(call: Call, target: ReferTarget) -> Request:
    """The ``req`` the ``transfer`` dialplan sees: an INVITE to the Refer-To URI (its embedded
    headers as header fields, the URI otherwise as sent: ``tel:`` stays ``tel:``), from the
    transferee (the caller; or, when the caller's phone REFERs, the party it called),
    carrying the transferee's SDP."""
    uri: object
    try:
        uri = parse_uri(target.uri_text)
    except ValueError:
        uri = target.uri_text
    if isinstance(uri, SipUri):
        uri = replace(uri, headers=())
    transferee = call.transferee
    invite = transferee.invite
    headers: list[tuple[str, str]] = [
        (name, value) for _, name, value in invite.headers if name.lower() in _KEPT
    ]
    if isinstance(transferee, ClientLeg):  # a party we called: it is the caller now
        headers = [(n, v) for n, v in headers if n.lower() not in ("from", "call-id")]
        headers += [("From", str(transferee.setup.to_address)), ("Call-ID", transferee.call_id)]
    sdp = call.sdp_of(transferee) or b""
    headers += [
        ("To", str(Address(uri)) if isinstance(uri, SipUri) else f"<{uri}>"),
        ("CSeq", "1 INVITE"),
    ]
    if target.referred_by:
        headers.append(("Referred-By", target.referred_by))
    headers += [(n, v) for n, v in target.headers]
    if sdp:
        headers.append(("Content-Type", "application/sdp"))
    return Request("INVITE", uri if isinstance(uri, SipUri) else str(uri), headers, sdp)


def refer_dst(target: ReferTarget) -> str:
    """What the dialplan matches on: the Refer-To user (a ``tel:`` number as written)."""
    try:
        uri = parse_uri(target.uri_text)
    except ValueError:
        return target.uri_text
    if isinstance(uri, SipUri):
        return uri.user or ""
    text = target.uri_text
    return text.partition(":")[2].partition(";")[0] if ":" in text else text


class TransferAttempt:
    """The dialplan's view of a transfer: dialling rings legs for the established call and keeps
    the first answer for the transfer (it is not bridged here)."""

    def __init__(
        self, call: Call, invite: Request, notifier: ReferNotifier, target: ReferTarget
    ) -> None:
        self.call = call
        self._invite = invite
        self.notifier = notifier
        self.target = target
        self.failures: list[tuple[int, str]] = []
        self.result: tuple[ClientLeg, PlannedLeg, bytes | None] | None = None
        self.refusal: tuple[int, str] | None = None

    @property
    def invite(self) -> Request:
        return self._invite

    @property
    def answered(self) -> bool:
        return self.result is not None

    async def dial(
        self,
        group_count: int,
        expand: Expand,
        *,
        ring_timeout: float | None = None,
        duration_limit: float | None = None,
    ) -> DialOutcome:
        call = self.call
        if ring_timeout is not None:
            call.context.ring_timeout = ring_timeout
        for index in range(group_count):
            if _caller_gone(call):
                return DialOutcome.CANCELLED
            planned = [self._for_transfer(p, duration_limit) for p in await expand(index)]
            if not planned:
                continue
            answered = await call.ring(planned, self.failures)
            if answered is not None:
                self.result = answered
                return DialOutcome.ANSWERED
            if _caller_gone(call):
                return DialOutcome.CANCELLED
            if call.timed_out:
                return DialOutcome.NO_ANSWER
        return DialOutcome.FAILED

    def _for_transfer(self, plan: PlannedLeg, duration_limit: float | None) -> PlannedLeg:
        """The new INVITE says who referred it (RFC 3892) and carries the Refer-To's headers
        (RFC 3515 §2.1), e.g. a Replaces for a dialog elsewhere."""
        extra = [(n, v) for n, v in self.target.headers if n.lower() not in _NOT_COPIED]
        if self.target.replaces is not None:
            extra.append(("Replaces", str(self.target.replaces)))
        referred_by = self.target.referred_by or self.call.referred_by
        if referred_by:
            extra.append(("Referred-By", referred_by))
        setup = replace(plan.setup, headers=(*plan.setup.headers, *extra))
        limit = duration_limit if duration_limit is not None else plan.duration_limit
        return replace(plan, setup=setup, duration_limit=limit)

    def respond(
        self, status: int, reason: str | None = None, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """The dialplan's own answer: a refusal of the transfer (the call goes on)."""
        if status >= 300 and self.refusal is None:
            self.refusal = (status, reason or "Transfer refused")


def _caller_gone(call: Call) -> bool:
    return call.transferee.ended
