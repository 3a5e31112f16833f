"""The transfer service: every REFER on a call comes here (the call's ``on_refer`` hook).

* ``tr`` unset or ``n``: 403, a console warning naming the Refer-To, nothing dialled.
* ``tr=p``: the REFER goes to the other leg (see :mod:`.passthrough`).
* ``tr=c``: the switch carries it out (see :mod:`.blind`, :mod:`.attended`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

from sipswitch.runtime.events import ConsoleEvent, EventBus, EventKind
from sipswitch.services.calls.call import Call
from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.dialplans import DialplanExecutor, Execution
from sipswitch.services.calls.nat import mangle
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.services.calls.service import CallService
from sipswitch.services.dialplan.sandbox import Direction
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.services.registrar.accounts import AccountAuth
from sipswitch.services.transfer import attended, own_phone, passthrough
from sipswitch.services.transfer.blind import TransferAttempt, refer_dst, refer_request
from sipswitch.services.transfer.media import accepted, continue_session, reinvite
from sipswitch.services.transfer.notifier import ReferNotifier
from sipswitch.services.transfer.own_phone import OwnPhones
from sipswitch.services.transfer.policy import (
    REFUSED_REASON,
    ReferError,
    ReferTarget,
    TransferMode,
    check_refer,
)
from sipswitch.services.transfer.refer_out import ReferOutcome, send_refer
from sipswitch.storage import Scope

log = structlog.get_logger("sipswitch.transfer")

#: the dialplan a ``tr=c`` transfer runs
TRANSFER_DIALPLAN = "transfer"

Leg = ServerLeg | ClientLeg
#: what runs a transfer's dialling: a dialplan, or a plain dial string
Runner = Callable[[TransferAttempt], Awaitable[object]]


@dataclass
class TransferService:
    calls: CallService
    executor: DialplanExecutor
    events: EventBus
    #: our accounts' own phones (``allow_refer``); by default from the app's call router
    phones: OwnPhones | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.phones is None:
            self.phones = own_phone.from_router(self.calls.router)

    # -- REFER received ---------------------------------------------------------------------
    def on_refer(self, call: Call, incoming: IncomingRequest, origin: Leg) -> None:
        mode = TransferMode.of(call.b_plan.transfer_mode if call.b_plan else None)
        account = None if self.phones is None else self.phones.account_of(call, origin)
        if (
            account is not None
            and self.phones is not None
            and not self.phones.authenticated(incoming, account)
        ):
            return  # 407: the phone proves it is the account's
        try:
            target = check_refer(incoming.request)
        except ReferError as exc:
            incoming.respond(exc.status, exc.reason)
            return
        if account is not None:
            self._own_phone(call, incoming, origin, target, account)
            return
        if mode is TransferMode.REFUSE:
            self._refuse(call, incoming, target)
            return
        if call.transferring:
            incoming.respond(491, "A transfer is already in progress")
            return
        if mode is TransferMode.PASS_THROUGH:
            passthrough.relay(call, incoming, origin, target)
            self._warn(call, f"REFER passed through to the other party: {target.display}")
            return
        if origin is not call.b:
            incoming.respond(403, "Only the answering party may transfer this call")
            return
        self._spawn(self._carry_out(call, incoming, origin, target))

    def _own_phone(
        self,
        call: Call,
        incoming: IncomingRequest,
        origin: Leg,
        target: ReferTarget,
        account: AccountAuth,
    ) -> None:
        """An authenticated REFER from ``account``'s own phone: carried out with its rights."""
        if call.transferring:
            incoming.respond(491, "A transfer is already in progress")
            return
        self._console(account.owner_id, f"REFER to {target.display} from {account.aor}'s phone")
        self._spawn(self._carry_out(call, incoming, origin, target, account))

    def _refuse(self, call: Call, incoming: IncomingRequest, target: ReferTarget) -> None:
        incoming.respond(403, REFUSED_REASON)
        self._warn(
            call,
            f"REFER blocked on call {call.a.call_id}: the far end asked to transfer the caller "
            f"to {target.display} (this call does not allow transfers)",
        )

    # -- carried out by the switch (tr=c) ----------------------------------------------------
    async def _carry_out(
        self,
        call: Call,
        incoming: IncomingRequest,
        referrer: Leg,
        target: ReferTarget,
        account: AccountAuth | None = None,
    ) -> None:
        owner = call.context.owner if account is None else account.owner_id
        call.referrer = referrer  # the other side is the transferee
        if target.replaces is not None:
            joined = attended.find(self.calls, call, target.replaces)
            if joined is not None:
                await attended.join(call, joined, incoming, referrer, target)
                self._console(owner, f"attended transfer on call {call.a.call_id} done")
                return
        call.transferring = True  # a second REFER meanwhile gets 491
        try:
            runner = None if owner is None else await self._runner(call, owner, target, account)
        except BaseException:
            call.transfer_failed()
            raise
        if runner is None:
            call.transfer_failed()
            incoming.respond(403, "No transfer dialplan")
            self._warn(call, f"REFER to {target.display} refused: no '{TRANSFER_DIALPLAN}' "
                             "dialplan")  # fmt: skip
            return
        if call.transferee.ended or referrer.ended:
            call.transfer_failed()
            incoming.respond(481)
            return
        notifier = ReferNotifier(referrer, enabled=target.subscribe)
        incoming.respond(202, headers=[] if target.subscribe else [("Refer-Sub", "false")])
        notifier.progress(100, "Trying")
        call.referred_by = target.referred_by or str(referrer.dialog.remote_uri)  # type: ignore[union-attr]
        call.progress_hook = notifier.progress
        attempt = TransferAttempt(call, refer_request(call, target), notifier, target)
        try:
            await runner(attempt)
        except Exception:
            log.exception("transfer dialplan failed", call_id=call.a.call_id)
        finally:
            call.progress_hook = None
            call.referred_by = None
        await self._finish(call, attempt, notifier)

    async def _runner(
        self, call: Call, owner: int, target: ReferTarget, account: AccountAuth | None
    ) -> Runner | None:
        """What dials the Refer-To target: the owner's ``transfer`` dialplan; for an account's
        own phone, else that account's out dialplan, else ``${dst}@local`` (its own rights)."""
        name = TRANSFER_DIALPLAN
        dialplan = await self.executor.load(owner, name)
        if dialplan is None and account is not None and account.out_dialplan:
            name = account.out_dialplan
            dialplan = await self.executor.load(owner, name)
        elif dialplan is None and account is not None and self.phones is not None:
            planned = await self.phones.default_plan(
                account, refer_request(call, target), refer_dst(target)
            )
            if planned is None:
                return None
            count, expand = planned

            async def dial(attempt: TransferAttempt) -> object:
                return await attempt.dial(count, expand)

            return dial
        if dialplan is None:
            return None
        execution = Execution(
            owner=owner,
            username="" if account is None else account.username,
            domain=call.context.domain if account is None else account.domain,
            direction=Direction.OUT,
            dialplan=name,
            dst=refer_dst(target),
            timezone=await self._timezone(owner),
        )
        found = dialplan

        async def run(attempt: TransferAttempt) -> object:
            await self.executor.execute(attempt, execution, found)
            return None

        return run

    async def _finish(self, call: Call, attempt: TransferAttempt, notifier: ReferNotifier) -> None:
        owner = call.context.owner
        result = attempt.result
        if result is None:
            status, reason = attempt.refusal or _best(attempt.failures, call.transferee.ended)
            notifier.final(status, reason)
            call.transfer_failed()
            self._console(owner, f"transfer to {attempt.target.display} failed: {status} {reason}")
            return
        leg, plan, sdp = result
        transferee, referrer = call.transferee, call.referrer
        if transferee.ended or referrer is None:  # the transferee hung up as the new one answered
            leg.bye("caller hung up")
            notifier.final(487, "Request Terminated")
            call.transfer_failed()
            return
        seen = call.sdp_seen_by(transferee)
        offer = continue_session(seen, mangle(sdp, plan)) if sdp else None
        response = await reinvite(transferee, offer) if offer else None
        if offer and not accepted(response):
            leg.bye("transfer failed")
            cdr = call.cdr_of(leg)
            if cdr is not None:
                call.emit(cdr.hungup(call.plumbing.clock.wall(), "transfer failed"))
            status = 500 if response is None else response.status
            notifier.final(status, "Transferee did not take the new media")
            call.transfer_failed()
            return
        notifier.final(200, "OK")
        call.swap(referrer, leg, "transferred", plan=plan, sdp=offer)
        self._console(owner, f"call {call.a.call_id} transferred to {attempt.target.display}")

    async def _timezone(self, owner: int) -> str:
        customer = await self.executor.store.customers.get(Scope.system(), owner)
        return customer.timezone if customer is not None else "UTC"

    # -- REFER sent by the switch ------------------------------------------------------------
    async def refer(
        self, call: Call, target: str, *, to_caller: bool = True, timeout: float = 30.0
    ) -> ReferOutcome:
        """Ask one end of ``call`` (by default the caller's side: "back to the upstream") to
        call ``target`` instead; on success the call ends here ("transferred"), on failure or
        timeout it stays up."""
        leg: Leg | None = call.a if to_caller else call.b
        if leg is None:
            return ReferOutcome(False, 481, "No such leg")
        outcome = await send_refer(call, leg, target, timeout=timeout)
        if outcome.succeeded:
            call.hangup("transferred")
        self._console(call.context.owner, f"REFER to {target}: {outcome.status} {outcome.reason}")
        return outcome

    # -- helpers ----------------------------------------------------------------------------
    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _warn(self, call: Call, message: str) -> None:
        log.info("transfer", message=message, call_id=call.a.call_id)
        self._console(call.context.owner, message, EventKind.WARN)

    def _console(
        self, owner: int | None, message: str, kind: EventKind = EventKind.DIAL_PLAN
    ) -> None:
        self.events.publish(
            ConsoleEvent(kind=kind, owner=owner, time=self.executor.clock.wall(), message=message)
        )


def _best(failures: list[tuple[int, str]], cancelled: bool) -> tuple[int, str]:
    if cancelled:
        return 487, "Request Terminated"
    if not failures:
        return 480, "Nothing to dial"
    for status, reason in failures:
        if status in (486, 600, 603):
            return status, reason
    return failures[-1]
