"""A call: the caller's leg, the legs a dial plan places (parallel within a group, groups in
sequence), the first answer bridged, in-dialog requests relayed, CDRs closed at the end."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from sipswitch.services.calls.cdr import CdrBuilder, placed_leg_cdr, server_leg_cdr
from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.events import Answered, Ended, Failed, LegEvent, Ringing
from sipswitch.services.calls.model import (
    TRANSFERS_REFUSED,
    CallContext,
    DialOutcome,
    Expand,
    Leg,
    PlannedLeg,
)
from sipswitch.services.calls.nat import mangle, mangle_from
from sipswitch.services.calls.plumbing import Plumbing
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.sip.builders import random_hex
from sipswitch.sip.message import Request, Response, default_reason
from sipswitch.storage.cdrs import CallDetailRecord

MAX_RING_SECONDS = 180.0
#: when several legs fail, the status the caller hears: the most telling one (RFC 3261 §16.7
#: favours 6xx, then the lowest class; busy and rejection beat "not found" and timeouts)
_PREFERENCE = (600, 603, 604, 606, 486, 600, 403, 404, 484, 485, 488, 480, 408, 503, 500)


@dataclass
class _Group:
    pending: list[ClientLeg] = field(default_factory=list)
    delayed: list[tuple[asyncio.TimerHandle, PlannedLeg]] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)


class Call:
    """Runs one call to its end: ``await call.run(groups, expand)``.

    Until the answer, ``a`` is the :class:`ServerLeg` of the INVITE the switch answers and
    ``b`` is None; the answer bridges ``a`` with the placed leg ``b``. After that, either side
    may change hands (:meth:`swap`: a transfer, a Replaces), so each side is any leg."""

    def __init__(self, plumbing: Plumbing, incoming: IncomingRequest, context: CallContext) -> None:
        self.plumbing = plumbing
        self.context = context
        self.bridge_id = random_hex(8)
        caller = ServerLeg(plumbing, incoming, _ignore)
        self.a: Leg = caller
        self.b: Leg | None = None
        #: the options of the placed leg that answered (``tr``, NAT fix-up, duration)
        self.b_plan: PlannedLeg | None = None
        self._events: asyncio.Queue[tuple[ClientLeg | None, LegEvent]] = asyncio.Queue()
        self._cdrs: dict[int, CdrBuilder] = {
            id(caller): server_leg_cdr(caller, self.plumbing, self.context)
        }
        self._bind(caller)
        self._early_sent = False
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._limit: asyncio.TimerHandle | None = None
        self._keepalive: asyncio.TimerHandle | None = None
        self._timed_out = False
        self.failures: list[tuple[int, str]] = []
        #: the latest SDP side ``a`` sent, as ``b`` got it (the caller's offer to begin with)
        self.a_sdp: bytes | None = caller.invite.body
        #: the latest SDP side ``b`` sent, as ``a`` got it (the far end's answer to begin with)
        self.b_sdp: bytes | None = None
        #: set by a transfer in progress: the referrer's BYE then waits for its outcome
        self.transferring = False
        #: the side that asked for the transfer in progress (else None)
        self.referrer: Leg | None = None
        self.referrer_gone: str | None = None
        #: while a transfer rings: its progress goes here (a NOTIFY), not to the caller
        self.progress_hook: Callable[[int, str], None] | None = None
        #: the Referred-By of legs placed for a transfer (their CDRs record it)
        self.referred_by: str | None = None
        #: NOTIFYs of a REFER the switch sent itself; True when consumed
        self.notify_hook: Callable[[IncomingRequest], bool] | None = None

    # -- running the dial plan --------------------------------------------------------------------
    async def run(self, group_count: int, expand: Expand) -> None:
        """Dial a whole plan; on answer, wait for the end; else answer the caller's INVITE with
        the most telling failure."""
        await self.drive(lambda call: call.dial(group_count, expand))

    async def drive(self, driver: Callable[[Call], Awaitable[object]]) -> None:
        """Let ``driver`` (a plan, a rule, a script) dial and respond; then finish the call."""
        try:
            await driver(self)
            if self.b is not None:
                await self._done
            elif not self.a.ended and self.a.final_status is None:
                status, reason = _best(self.failures)
                self._reject_a(status, reason)
        finally:
            if self.context.on_finished is not None:
                self.context.on_finished(self)

    async def dial(
        self,
        group_count: int,
        expand: Expand,
        *,
        ring_timeout: float | None = None,
        duration_limit: float | None = None,
    ) -> DialOutcome:
        """Ring the groups in turn; the first answer is bridged (the call then runs on its own).
        Failures accumulate in :attr:`failures` for the caller's final answer."""
        if ring_timeout is not None:
            self.context.ring_timeout = ring_timeout
        for index in range(group_count):
            if self._caller_gone():
                return DialOutcome.CANCELLED
            planned = list(await expand(index))
            if not planned:
                continue
            if duration_limit is not None:
                planned = [replace(p, duration_limit=duration_limit) for p in planned]
            answered = await self._ring(planned, self.failures)
            if answered is not None:
                self._connect(*answered)
                return DialOutcome.ANSWERED
            if self._caller_gone():
                return DialOutcome.CANCELLED
            if self._timed_out:
                return DialOutcome.NO_ANSWER
        return DialOutcome.FAILED

    def respond(
        self, status: int, reason: str | None = None, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """A dialplan's own answer to the caller: 1xx goes on ringing, ≥300 ends the call."""
        if status < 200:
            self._provisional_a(status, reason)
            return
        if status >= 300 and self.a.final_status is None and not self.a.ended:
            self._reject_a(status, reason, headers)

    @property
    def invite(self) -> Request:
        return self.a.invite

    def _caller_gone(self) -> bool:
        return self.transferee.ended

    def other(self, leg: Leg) -> Leg | None:
        """The side bridged with ``leg``."""
        return self.b if leg is self.a else self.a

    @property
    def transferee(self) -> Leg:
        """The side a transfer keeps: the one that did not REFER (the caller's before one)."""
        if self.referrer is self.a and self.b is not None:
            return self.b
        return self.a

    def sdp_of(self, leg: Leg) -> bytes | None:
        """The latest SDP ``leg`` sent, as the other side got it."""
        return self.a_sdp if leg is self.a else self.b_sdp

    def sdp_seen_by(self, leg: Leg) -> bytes | None:
        """The session description ``leg`` saw last (the other side's)."""
        return self.b_sdp if leg is self.a else self.a_sdp

    @property
    def answered(self) -> bool:
        return self.b is not None

    async def _ring(
        self, planned: list[PlannedLeg], failures: list[tuple[int, str]]
    ) -> tuple[ClientLeg, PlannedLeg, bytes | None] | None:
        group = _Group()
        plans: dict[int, PlannedLeg] = {}
        self._timed_out = False

        def start(plan: PlannedLeg) -> None:
            leg = ClientLeg(self.plumbing, plan.destination, plan.setup, _ignore)
            leg.listener = functools.partial(self._queue_event, leg)
            plans[id(leg)] = plan
            self._cdrs[id(leg)] = placed_leg_cdr(leg, self.plumbing, self.context, self.referred_by)
            group.pending.append(leg)
            if self.context.registry is not None:
                self.context.registry(leg)
            leg.start()

        def start_delayed_now() -> None:
            for handle, plan in group.delayed:
                handle.cancel()
                start(plan)
            group.delayed.clear()

        def _start_one(plan: PlannedLeg) -> None:
            group.delayed = [(h, p) for h, p in group.delayed if p is not plan]
            start(plan)

        for plan in planned:
            if plan.delay > 0:
                handle = self.plumbing.later(plan.delay, functools.partial(_start_one, plan))
                group.delayed.append((handle, plan))
            else:
                start(plan)

        if not group.pending:
            start_delayed_now()
        ring = min(self.context.ring_timeout, MAX_RING_SECONDS)
        deadline = self.plumbing.clock.now() + ring
        while group.pending or group.delayed:
            timeout = deadline - self.plumbing.clock.now()
            try:
                # a timeout scope, not wait_for: no task wrapped around each wait
                async with asyncio.timeout(max(timeout, 0)):
                    leg, event = await self._events.get()
            except TimeoutError:
                self._give_up(group)
                failures.append((480, "No Answer"))
                self._timed_out = True
                return None
            if leg is None:  # the caller went away
                self._give_up(group)
                return None
            if id(leg) not in plans:  # a late event of an earlier ring's leg
                continue
            cdr = self._cdrs[id(leg)]
            now = self.plumbing.clock.wall()
            if isinstance(event, Ringing):
                cdr.progress(now, event.status, event.reason)
                if self.progress_hook is not None:
                    self.progress_hook(event.status, event.reason)
                else:
                    self._relay_ringing(event, plans[id(leg)])
            elif isinstance(event, Answered):
                cdr.answered(now, 200, "OK")
                group.pending.remove(leg)
                self._give_up(group)
                return leg, plans[id(leg)], event.sdp
            elif isinstance(event, Failed):
                cdr.answered(now, event.status, event.reason)
                self.emit(cdr.hungup(now, event.reason))
                failures.append((event.status, event.reason))
                if leg in group.pending:
                    group.pending.remove(leg)
                if not group.pending and group.delayed:
                    start_delayed_now()  # every undelayed leg failed: don't make them wait
        return None

    def _queue_event(self, leg: ClientLeg, event: LegEvent) -> None:
        self._events.put_nowait((leg, event))

    def _give_up(self, group: _Group) -> None:
        for handle, _ in group.delayed:
            handle.cancel()
        group.delayed.clear()
        now = self.plumbing.clock.wall()
        for leg in group.pending:
            leg.cancel()
            cdr = self._cdrs[id(leg)]
            cdr.answered(now, 487, "Request Terminated")
            self.emit(cdr.hungup(now, "cancelled"))
        group.pending.clear()

    def _relay_ringing(self, event: Ringing, plan: PlannedLeg) -> None:
        if event.sdp and event.status == 183:
            if plan.relay_183:
                self._provisional_a(183, event.reason, mangle(event.sdp, plan))
                self._early_sent = True
            return
        if not self._early_sent:
            self._provisional_a(180 if event.status != 183 else 183, event.reason)
            self._early_sent = True

    def _provisional_a(self, status: int, reason: str | None, sdp: bytes | None = None) -> None:
        """Progress to the caller; its CDR's last progress is what the caller heard."""
        caller = self.a
        if not isinstance(caller, ServerLeg) or caller.final_status is not None or caller.ended:
            return
        caller.provisional(status, reason, sdp)
        if status > 100:
            phrase = reason or default_reason(status)
            self.a_cdr.progress(self.plumbing.clock.wall(), status, phrase)

    async def ring(
        self, planned: Sequence[PlannedLeg], failures: list[tuple[int, str]]
    ) -> tuple[ClientLeg, PlannedLeg, bytes | None] | None:
        """Ring legs for the established call (a transfer): the answer is returned, not bridged;
        the caller hanging up gives up (CANCEL) on the legs still ringing."""
        if self._caller_gone() or not planned:
            return None
        return await self._ring(list(planned), failures)

    @property
    def timed_out(self) -> bool:
        return self._timed_out

    @property
    def a_cdr(self) -> CdrBuilder:
        """The record so far of side ``a`` (the caller's leg: answer time, bridge)."""
        return self._cdrs[id(self.a)]

    def cdr_of(self, leg: Leg) -> CdrBuilder | None:
        return self._cdrs.get(id(leg))

    def release_b(self) -> tuple[ClientLeg, PlannedLeg, CdrBuilder] | None:
        """Hand the far end (a placed leg) over to another call (attended transfer): this call
        forgets it, so ending this call no longer hangs it up."""
        b, plan = self.b, self.b_plan
        if not isinstance(b, ClientLeg) or plan is None:
            return None
        self.b, self.b_plan = None, None
        b.listener = _ignore
        return b, plan, self._cdrs.pop(id(b))

    def swap(
        self,
        old: Leg,
        new: Leg,
        reason: str,
        *,
        plan: PlannedLeg | None = None,
        cdr: CdrBuilder | None = None,
        sdp: bytes | None = None,
    ) -> None:
        """``new`` takes ``old``'s side of the bridge (a transfer, a Replaces): it is bound to
        this call and its CDR joins the bridge; ``old`` is detached, gets BYE with Reason
        ``reason`` and its CDR ends with ``reason``. ``sdp`` is what the other side now has as
        this side's session description; ``plan`` (a placed leg's options) sets the duration
        limit, and becomes :attr:`b_plan` when the far side changes hands."""
        if old is self.a:
            self.a, self.a_sdp = new, sdp
        elif old is self.b:
            self.b, self.b_sdp = new, sdp
            if plan is not None:
                self.b_plan = plan
        else:
            raise ValueError("not a side of this call")
        self._bind(new)
        if cdr is not None:
            self._cdrs[id(new)] = cdr
        self._cdrs[id(new)].bridged(self.bridge_id)
        old.listener = _ignore
        old.on_request = _gone
        old.bye(reason, headers=[("Reason", f'SIP;cause=200;text="{reason}"')])
        self._close(old, reason)
        if plan is not None:
            if self._limit is not None:
                self._limit.cancel()
                self._limit = None
            if plan.duration_limit:
                self._limit = self.plumbing.later(plan.duration_limit, self._duration_reached)
        self.transferring = False
        self.referrer = None
        self.referrer_gone = None
        if self.context.on_swap is not None:
            self.context.on_swap(old, new)

    def replace(
        self, old: Leg, incoming: IncomingRequest, answer: bytes | None, offered: bytes | None
    ) -> ServerLeg:
        """RFC 3891: a new caller (``incoming``, an INVITE with Replaces) takes ``old``'s side,
        answered with ``answer`` (the other side's answer to ``offered``, the new caller's
        offer as the other side got it); ``old`` gets BYE and its CDR ends "replaced"."""
        new = ServerLeg(self.plumbing, incoming, _ignore)
        cdr = server_leg_cdr(new, self.plumbing, self.context)
        referred_by = incoming.request.get("Referred-By")
        if referred_by:
            cdr.referred(referred_by)
        kept = self.other(old)
        if answer and kept is self.b and self.b_plan is not None:
            answer = mangle(answer, self.b_plan)
        new.answer(answer)
        cdr.answered(self.plumbing.clock.wall(), 200, "OK")
        if kept is not None:  # what the new caller got is the kept side's latest SDP
            if kept is self.a:
                self.a_sdp = answer
            else:
                self.b_sdp = answer
        self.swap(old, new, "replaced", cdr=cdr, sdp=offered)
        return new

    def transfer_failed(self) -> None:
        """The transfer did not happen: the call goes on; if the referrer hung up meanwhile,
        so does the transferee."""
        kept, referrer, reason = self.transferee, self.referrer, self.referrer_gone
        self.transferring = False
        self.referrer = None
        self.referrer_gone = None
        if reason is not None and not kept.ended:
            kept.bye(reason)
            self._close(kept, reason)
            if referrer is not None:
                self._close(referrer, reason)
            self._finish()

    # -- the bridge -------------------------------------------------------------------------------
    def _connect(self, b: ClientLeg, plan: PlannedLeg, sdp: bytes | None) -> None:
        caller = self.a
        assert isinstance(caller, ServerLeg)  # the answer comes before any swap
        self.b, self.b_plan = b, plan
        self._bind(b)
        now = self.plumbing.clock.wall()
        self.b_sdp = mangle(sdp, plan) if sdp else None
        caller.answer(self.b_sdp)
        self.a_cdr.answered(now, 200, "OK")
        self.a_cdr.bridged(self.bridge_id)
        self._cdrs[id(b)].bridged(self.bridge_id)
        if plan.duration_limit:
            self._limit = self.plumbing.later(plan.duration_limit, self._duration_reached)
        self._schedule_keepalive()

    # -- keep-alive -----------------------------------------------------------------------------
    def _schedule_keepalive(self) -> None:
        interval = self.plumbing.keepalive
        if interval > 0 and self._keepalive is None and not self._done.done():
            self._keepalive = self.plumbing.later(interval, self._probe)

    def _probe(self) -> None:
        """An in-dialog OPTIONS to each answered leg: a leg whose far end vanished (no answer,
        transport dead, 408, or 481: §12.2.1.2) is dropped, and the other side gets BYE."""
        self._keepalive = None
        if self._done.done():
            return
        for leg in (self.a, self.b):
            if leg is not None and not leg.ended and leg.dialog is not None:
                leg.request("OPTIONS", callback=functools.partial(self._probed, leg))
        self._schedule_keepalive()

    def _probed(self, leg: Leg, response: Response | None) -> None:
        if response is not None and response.status not in (408, 481):
            return
        if self._done.done() or leg.ended or (leg is not self.a and leg is not self.b):
            return  # the call ended, or the leg was replaced meanwhile
        leg.drop(f"keepalive failed ({'no answer' if response is None else response.status})")

    def _duration_reached(self) -> None:
        self.hangup("call duration limit reached")

    def hangup(self, reason: str) -> None:
        """End the call from the switch's side."""
        if self.b is not None:
            self.b.bye(reason)
            self._close(self.b, reason)
        self.a.bye(reason)
        self._close(self.a, reason)
        self._finish()

    def _reject_a(
        self, status: int, reason: str | None, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """The caller's INVITE ends unanswered: its CDR keeps the final status (SIPSorcery's
        answered fields hold failures too)."""
        caller = self.a
        if not isinstance(caller, ServerLeg):
            return
        phrase = reason or default_reason(status)
        caller.reject(status, phrase, headers)
        self.a_cdr.answered(self.plumbing.clock.wall(), status, phrase)
        self._close(caller, phrase)

    def _bind(self, leg: Leg) -> None:
        """``leg`` is a side of the bridge: its events and requests come to this call."""
        leg.listener = functools.partial(self._on_leg, leg)
        leg.on_request = functools.partial(self._relay_from, leg)

    def _on_leg(self, leg: Leg, event: LegEvent) -> None:
        if isinstance(event, Failed) and leg is self.a:  # CANCEL from the caller while ringing
            self.a_cdr.answered(self.plumbing.clock.wall(), 487, "Request Terminated")
            self._close(leg, "cancelled")
            self._events.put_nowait((None, event))
            self._finish()
        elif isinstance(event, Ended) and (leg is self.a or leg is self.b):
            if self.transferring and leg is self.referrer:
                self.referrer_gone = event.reason  # the transfer's outcome decides (RFC 5589 §6)
                return
            self._events.put_nowait((None, event))  # a transfer still ringing gives up
            other = self.other(leg)
            if other is not None:
                other.bye(event.reason)
                self._close(other, event.reason)
            self._close(leg, event.reason)
            self._finish()

    def _finish(self) -> None:
        if self._limit is not None:
            self._limit.cancel()
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if not self._done.done():
            self._done.set_result(None)

    # -- relaying in-dialog requests --------------------------------------------------------------
    def _relay_from(self, origin: Leg, incoming: IncomingRequest) -> None:
        self._relay(incoming, self.other(origin), origin)

    def _relay(self, incoming: IncomingRequest, to: Leg | None, origin: Leg) -> None:
        """re-INVITE/UPDATE/INFO/NOTIFY go to the other leg; the answer comes back (§12.2)."""
        request = incoming.request
        if request.method == "OPTIONS":
            incoming.respond(
                200, headers=[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY")]
            )
            return
        hook = self.notify_hook
        if request.method == "NOTIFY" and hook is not None and hook(incoming):
            return
        if request.method == "REFER":
            if self.context.on_refer is None:
                incoming.respond(403, TRANSFERS_REFUSED)
            else:
                self.context.on_refer(self, incoming, origin)
            return
        if to is None or to.dialog is None:
            incoming.respond(481)
            return
        headers = [(n, v) for n, v in request.header_items() if n.lower() in _RELAYED]
        body = request.body
        if body and request.content_type == "application/sdp" and self.b_plan is not None:
            body = mangle_from(body, incoming.source[0])
        if body and request.content_type == "application/sdp":
            if origin is self.a:
                self.a_sdp = body
            elif origin is self.b:
                self.b_sdp = body

        def answered(response: Response | None) -> None:
            if response is None or response.status in (408, 481):
                # §12.2.1.2: the far end's dialog is gone (or unreachable): so is the call
                incoming.respond(408 if response is None else response.status)
                if request.method != "BYE":
                    self.hangup("remote end unreachable")
                return
            if request.method == "INVITE" and 200 <= response.status < 300:
                to.ack_2xx(response)
            out_headers = [(n, v) for n, v in response.header_items() if n.lower() in _RELAYED]
            extra: list[tuple[str, str]] = []
            if request.method in ("INVITE", "UPDATE"):
                extra.append(("Contact", str(origin.contact)))
            incoming.respond(
                response.status, response.reason, headers=out_headers + extra, body=response.body
            )

        to.request(request.method, body=body, headers=headers, callback=answered)

    # -- CDRs -----------------------------------------------------------------------------------
    def _close(self, leg: Leg, reason: str) -> None:
        cdr = self._cdrs.get(id(leg))
        if cdr is not None:
            self.emit(cdr.hungup(self.plumbing.clock.wall(), reason))

    def emit(self, record: CallDetailRecord | None) -> None:
        """A finished leg's record, to the CDR writer."""
        if record is not None and self.context.cdr_sink is not None:
            self.context.cdr_sink(record)


#: headers carried across the bridge with relayed requests and responses
_RELAYED = frozenset({"content-type", "event", "subscription-state", "info-package", "reason"})


def _ignore(_event: LegEvent) -> None:
    pass


def _gone(incoming: IncomingRequest) -> None:
    incoming.respond(481)


def _best(failures: list[tuple[int, str]]) -> tuple[int, str]:
    if not failures:
        return 480, "All forwards failed"
    for status in _PREFERENCE:
        for failed, reason in reversed(failures):
            if failed == status:
                return failed, reason
    return failures[-1]
