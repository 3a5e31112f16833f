"""Call detail records: one per leg, built while the leg lives, written when it ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from sipswitch.sip.builders import random_hex
from sipswitch.sip.uri import SipUri
from sipswitch.storage.cdrs import CallDetailRecord

if TYPE_CHECKING:  # the legs and the call's context are built on these records
    from sipswitch.services.calls.client_leg import ClientLeg
    from sipswitch.services.calls.model import CallContext
    from sipswitch.services.calls.plumbing import Plumbing
    from sipswitch.services.calls.server_leg import ServerLeg


class CdrBuilder:
    """The mutable record of a live leg; frozen into a :class:`CallDetailRecord` when asked
    for (changes are kept as fields: a leg changes five or six of them, copying the whole
    record for each cost more than the rest of the CDR work)."""

    __slots__ = ("_base", "_changes", "_record", "finished")

    def __init__(self, record: CallDetailRecord) -> None:
        self._base = record
        self._changes: dict[str, object] = {}
        self._record: CallDetailRecord | None = record
        self.finished = False

    @property
    def record(self) -> CallDetailRecord:
        if self._record is None:
            self._record = replace(self._base, **self._changes)  # type: ignore[arg-type]
        return self._record

    def _set(self, **changes: object) -> None:
        self._changes.update(changes)
        self._record = None

    def progress(self, when: float, status: int, reason: str) -> None:
        self._set(progress_time=when, progress_status=status, progress_reason=reason)

    def answered(self, when: float, status: int, reason: str) -> None:
        """The final response (2xx, or a failure: SIPSorcery keeps the answer fields for both)."""
        if "answered_time" not in self._changes and self._base.answered_time is None:
            self._set(answered_time=when, answered_status=status, answered_reason=reason)

    def bridged(self, bridge_id: str) -> None:
        self._set(bridge_id=bridge_id)

    def referred(self, by: str) -> None:
        self._set(referred_by=by)

    def hungup(self, when: float, reason: str) -> CallDetailRecord | None:
        """Close the record once; returns it the first time."""
        if self.finished:
            return None
        self.finished = True
        self._set(hungup_time=when, hungup_reason=reason)
        return self.record


CdrSink = Callable[[CallDetailRecord], None]


def server_leg_cdr(leg: ServerLeg, plumbing: Plumbing, context: CallContext) -> CdrBuilder:
    """The record of a leg the switch answered (direction ``in``)."""
    invite = leg.invite
    uri = invite.uri
    return CdrBuilder(
        CallDetailRecord(
            leg_id=random_hex(8),
            owner=context.owner,
            direction="in",
            call_id=invite.call_id,
            bridge_id=None,
            execution_id=context.execution_id,
            from_user=invite.from_.uri.user if invite.from_.uri.user else None,
            from_name=invite.from_.display_name,
            from_header=invite.get("From") or "",
            dst_user=uri.user if isinstance(uri, SipUri) else None,
            dst_host=uri.host if isinstance(uri, SipUri) else "",
            dst_uri=invite.uri_text,
            local_socket=_socket(plumbing.local_address(*leg.peer[:2])),
            remote_socket=f"{leg.peer[0]}:{leg.peer[1]}:{leg.peer[2]}",
            created=plumbing.clock.wall(),
        )
    )


def placed_leg_cdr(
    leg: ClientLeg, plumbing: Plumbing, context: CallContext, referred_by: str | None
) -> CdrBuilder:
    """The record of a leg the switch placed (direction ``out``)."""
    uri = leg.destination.uri
    setup = leg.setup
    peer = leg.peer
    return CdrBuilder(
        CallDetailRecord(
            leg_id=random_hex(8),
            owner=context.owner,
            direction="out",
            call_id=leg.call_id,
            bridge_id=None,
            execution_id=context.execution_id,
            from_user=setup.from_address.uri.user,
            from_name=setup.from_address.display_name,
            from_header=str(setup.from_address.with_tag(leg.local_tag)),
            dst_user=uri.user,
            dst_host=uri.host,
            dst_uri=str(uri),
            local_socket=_socket(plumbing.local_address(peer[0], peer[1])),
            remote_socket=f"{peer[0]}:{peer[1]}:{peer[2]}",
            created=plumbing.clock.wall(),
            referred_by=referred_by,
        )
    )


def _socket(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"
