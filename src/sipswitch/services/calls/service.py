"""The call service: new INVITEs become calls; in-dialog requests, ACKs, CANCELs and
transaction results find their leg."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from sipswitch.runtime.mesh import SharedCounts
from sipswitch.services.calls.call import Call
from sipswitch.services.calls.cdr import CdrSink
from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.model import CallContext, Leg, PlannedLeg, ReferHook
from sipswitch.services.calls.plumbing import Plumbing
from sipswitch.services.calls.replaces import ReplaceRefused, check, replaces_of, take_over
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.services.dispatch import Dispatcher, IncomingRequest
from sipswitch.sip.transaction.events import (
    CancelReceived,
    Event,
    ResponseReceived,
    StrayAck,
    StrayResponse,
    TransactionTimeout,
    TransportError,
)
from sipswitch.sip.transaction.keys import ClientKey, ServerKey

log = structlog.get_logger("sipswitch.calls")

#: methods that only make sense inside a dialog: outside one they get 481
IN_DIALOG_METHODS = ("BYE", "INFO", "UPDATE", "NOTIFY", "REFER")


@dataclass(frozen=True, slots=True)
class Reject:
    """The router's answer when the call cannot go on."""

    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Route:
    """The router's answer when it can: the groups to dial (expanded lazily, group by group)."""

    group_count: int
    expand: Callable[[int], Awaitable[Sequence[PlannedLeg]]]
    owner: int | None = None
    ring_timeout: float = 60.0
    execution_id: str | None = None
    domain: str = ""


@dataclass
class Driven:
    """The router's answer when a dialplan decides step by step: ``driver`` dials and responds
    on the call; what it leaves unanswered gets the most telling failure."""

    driver: Callable[[Call], Awaitable[object]]
    owner: int | None = None
    ring_timeout: float = 60.0
    execution_id: str | None = None
    domain: str = ""


Router = Callable[[IncomingRequest], Awaitable[Route | Driven | Reject | None]]
"""Decides what to do with a new INVITE; None means it already answered the request."""


@dataclass
class CallService:
    """Owns the calls and the index that routes dialog traffic to their legs."""

    plumbing: Plumbing
    dispatcher: Dispatcher
    router: Router
    cdr_sink: CdrSink | None = None
    max_calls: int = 10000
    #: concurrent calls one customer may have (the caller of one more gets 480)
    max_calls_per_owner: int = 100
    #: REFER handling; by default the transfer service over the router's dialplans
    transfers: ReferHook | None = None
    calls: set[Call] = field(default_factory=set)
    #: live calls per customer, summed over the workers
    per_owner: SharedCounts = field(default_factory=SharedCounts)
    _legs: dict[tuple[str, str], Leg] = field(default_factory=dict)
    _invites: dict[ServerKey, ServerLeg] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.dispatcher.register("INVITE", self.on_invite)
        for method in IN_DIALOG_METHODS:
            self.dispatcher.register(method, _outside_dialog)
        self.dispatcher.in_dialog = self.on_in_dialog
        self.dispatcher.on_cancel(self.on_cancel)
        self.dispatcher.subscribe(self.on_event)
        if self.transfers is None:
            self.transfers = _default_transfers(self)

    # -- new calls ------------------------------------------------------------------------------
    def on_invite(self, incoming: IncomingRequest) -> None:
        if incoming.request.get("Replaces") is not None:
            self._replace(incoming)
            return
        if len(self.calls) >= self.max_calls:
            incoming.respond(503, "Too many calls", headers=[("Retry-After", "5")])
            return
        incoming.respond(100)
        task = asyncio.create_task(self._start(incoming))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, incoming: IncomingRequest) -> None:
        try:
            decision = await self.router(incoming)
        except Exception:
            log.exception("routing failed", call_id=incoming.request.call_id)
            if not incoming.answered:
                incoming.respond(500, "Routing failed")
            return
        if decision is None:
            return
        if isinstance(decision, Reject):
            incoming.respond(decision.status, decision.reason, headers=decision.headers)
            return
        owner = decision.owner
        if owner is not None and self.per_owner[owner] >= self.max_calls_per_owner:
            incoming.respond(480, "Too many calls for this customer")
            return
        context = CallContext(
            owner=decision.owner,
            execution_id=decision.execution_id,
            ring_timeout=decision.ring_timeout,
            cdr_sink=self.cdr_sink,
            registry=self._index_client,
            on_finished=self._finished,
            domain=decision.domain,
            on_refer=self.transfers,
            on_swap=self._swapped,
        )
        call = Call(self.plumbing, incoming, context)
        self.calls.add(call)
        if owner is not None:
            self.per_owner.add(owner, 1)
        caller = call.a
        assert isinstance(caller, ServerLeg)
        self._legs[(caller.call_id, caller.local_tag)] = caller
        self._invites[incoming.tx] = caller
        if isinstance(decision, Driven):
            await call.drive(decision.driver)
        else:
            await call.run(decision.group_count, decision.expand)

    def _replace(self, incoming: IncomingRequest) -> None:
        """An INVITE with Replaces (RFC 3891 §3): it takes the place of a dialog we hold."""
        try:
            replaces = replaces_of(incoming)
            assert replaces is not None
            leg = self.leg(replaces.call_id, replaces.to_tag)
            call, old = check(
                leg, None if leg is None else self.call_of(leg), replaces, incoming.source[0]
            )
        except ReplaceRefused as exc:
            incoming.respond(exc.status, exc.reason)
            return
        incoming.respond(100)
        task = asyncio.create_task(take_over(call, old, incoming))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def leg(self, call_id: str, local_tag: str) -> Leg | None:
        """The leg of a dialog we hold, by Call-ID and our tag (RFC 3891 Replaces lookups)."""
        return self._legs.get((call_id, local_tag))

    def call_of(self, leg: Leg) -> Call | None:
        for call in self.calls:
            if call.a is leg or call.b is leg:
                return call
        return None

    def _index_client(self, leg: ClientLeg) -> None:
        self._legs[(leg.call_id, leg.local_tag)] = leg

    def _swapped(self, old: Leg, new: Leg) -> None:
        """A side of a call changed hands: the new leg is found by its dialog (and its INVITE,
        for a CANCEL); the old one a little longer, for late retransmissions."""
        self._legs[(new.call_id, new.local_tag)] = new
        if isinstance(old, ServerLeg):
            self._invites.pop(old.incoming.tx, None)
        if isinstance(new, ServerLeg):
            self._invites[new.incoming.tx] = new
        later = asyncio.get_running_loop().call_later
        later(32.0, self._legs.pop, (old.call_id, old.local_tag), None)

    def _finished(self, call: Call) -> None:
        if call in self.calls and call.context.owner is not None:
            self.per_owner.add(call.context.owner, -1)
        self.calls.discard(call)
        for leg in (call.a, call.b):
            if isinstance(leg, ServerLeg):
                self._invites.pop(leg.incoming.tx, None)
        # legs stay indexed briefly so late BYE/ACK retransmissions still find them
        asyncio.get_running_loop().call_later(32.0, self._unindex, call)

    def _unindex(self, call: Call) -> None:
        for key in [k for k, leg in self._legs.items() if leg is call.a or leg is call.b]:
            del self._legs[key]
        for key in [k for k, leg in self._legs.items() if isinstance(leg, ClientLeg) and leg.ended]:
            del self._legs[key]

    # -- traffic for existing legs ----------------------------------------------------------------
    def on_in_dialog(self, incoming: IncomingRequest) -> bool:
        request = incoming.request
        leg = self._legs.get((request.call_id, request.to.tag or ""))
        if leg is None:
            return False
        leg.receive(incoming)
        return True

    def on_cancel(self, event: CancelReceived) -> bool:
        if event.invite_tx is None:
            return False
        leg = self._invites.get(event.invite_tx)
        if leg is None:
            return False
        # the 200 to the CANCEL goes first, then the 487 to the INVITE (§9.2)
        asyncio.get_running_loop().call_soon(leg.cancelled)
        return True

    def on_event(self, event: Event) -> None:
        if isinstance(event, ResponseReceived):
            self.plumbing.deliver(event.client_tx, event.response)
        elif isinstance(event, TransactionTimeout | TransportError):
            if isinstance(event.tx, ClientKey):
                self.plumbing.deliver(event.tx, None)
        elif isinstance(event, StrayAck):
            request = event.request
            leg = self._legs.get((request.call_id, request.to.tag or ""))
            if isinstance(leg, ServerLeg):
                leg.on_ack(request)
        elif isinstance(event, StrayResponse):
            response = event.response
            leg = self._legs.get((response.call_id, response.from_.tag or ""))
            if isinstance(leg, ClientLeg):
                leg.on_retransmitted_2xx(response)

    async def close(self) -> None:
        for call in list(self.calls):
            call.hangup("server shutting down")
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _outside_dialog(incoming: IncomingRequest) -> None:
    incoming.respond(481)


def _default_transfers(service: CallService) -> ReferHook | None:
    """The transfer service over the router's dialplan executor, when it has one (the app's
    router does); without one, REFER is refused."""
    from sipswitch.services.calls.dialplans import DialplanExecutor
    from sipswitch.services.transfer.service import TransferService  # the layer above calls

    executor = getattr(service.router, "dialplans", None)
    if not isinstance(executor, DialplanExecutor):
        return None
    return TransferService(service, executor, executor.events).on_refer
