"""The provider registration agent: one :class:`RegistrationCore` per provider with
``register = true``, driven on asyncio, REGISTERs sent through the UAC client.

The provider list is reloaded every ``providers.reload_interval`` seconds, so CLI or portal
changes apply without a restart: a new provider starts registering, a changed one is
un-registered and registered afresh, one whose registration was turned off (or that was
deleted) is un-registered. On :meth:`close` every live binding is removed (``Expires: 0``).
Status (registered / next attempt / last error) is written with ``set_registration`` and
ContactRegistered / ContactFailed console events go to the provider's owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random as _random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from sipswitch.config import ProvidersSettings
from sipswitch.runtime.clock import Clock
from sipswitch.runtime.events import ConsoleEvent, EventBus, EventKind
from sipswitch.runtime.uac import UacError
from sipswitch.services.providers.contact import (
    PlanError,
    RegistrationPlan,
    build_register,
    contact_uri,
    outcome_of,
    plan_for,
)
from sipswitch.services.providers.core import (
    DnsFailure,
    NoAnswer,
    Outcome,
    Phase,
    Registered,
    RegistrationCore,
    RegistrationPolicy,
    Send,
    Snapshot,
)
from sipswitch.services.providers.directory import ProviderDirectory
from sipswitch.sip.builders import new_call_id, new_tag
from sipswitch.sip.message import Request, Response
from sipswitch.sip.uri import SipUri
from sipswitch.storage import Scope, Store
from sipswitch.storage.records import ProviderRecord, RegistrationStatus
from sipswitch.transport.dns import ResolutionError, ResolvedTarget

log = structlog.get_logger("sipswitch.providers")

#: how long shutdown waits for the un-REGISTERs, in all (seconds)
CLOSE_TIMEOUT = 4.0


class Uac(Protocol):
    async def request(
        self,
        request: Request,
        *,
        uri: SipUri | None = None,
        credentials: tuple[str, str] | None = None,
        timeout: float = 32.0,
    ) -> Response: ...

    def local_contact_host(self, transport: str, toward_ip: str) -> tuple[str, int]: ...


class Resolver(Protocol):
    async def resolve(self, uri: SipUri) -> list[ResolvedTarget]: ...


def policy_of(settings: ProvidersSettings) -> RegistrationPolicy:
    return RegistrationPolicy(
        min_interval=float(settings.min_interval),
        refresh_margin=float(settings.refresh_margin),
        min_expiry=settings.min_expiry,
        backoff=float(settings.retry_backoff),
        jitter=float(settings.retry_jitter),
        dns_failures_to_disable=settings.dns_failures_to_disable,
    )


def _fingerprint(record: ProviderRecord) -> tuple[object, ...]:
    """The settings a registration depends on; a change means register afresh."""
    return (
        record.server,
        record.register_server,
        record.outbound_proxy,
        record.username,
        record.auth_username,
        record.password,
        record.register_contact,
        record.register_expiry,
    )


@dataclass(eq=False)
class _Registration:
    record: ProviderRecord
    plan: RegistrationPlan | None
    core: RegistrationCore
    call_id: str
    from_tag: str = field(default_factory=new_tag)
    cseq: int = 1
    contact: SipUri | None = None
    target: ResolvedTarget | None = None
    task: asyncio.Task[None] | None = None
    disabled_at: float = 0.0  # wall clock when the core was (found) disabled


class ProviderRegistrationAgent:
    """Keeps our registrations to the customers' providers (see the module docstring)."""

    def __init__(
        self,
        *,
        store: Store,
        uac: Uac,
        resolver: Resolver,
        events: EventBus,
        clock: Clock,
        settings: ProvidersSettings,
        directory: ProviderDirectory,
        user_agent: str = "sipswitch",
        random: Callable[[], float] = _random.random,
        call_ids: Callable[[], str] = new_call_id,
        passive: bool = False,
    ) -> None:
        self.store = store
        self.call_ids = call_ids
        #: keep the directory (who owns which provider contact) but register nothing: with
        #: several workers only the first one registers
        self.passive = passive
        self.uac = uac
        self.resolver = resolver
        self.events = events
        self.clock = clock
        self.settings = settings
        self.policy = policy_of(settings)
        self.directory = directory
        self.user_agent = user_agent
        self.random = random
        self._registrations: dict[int, _Registration] = {}
        self._last_attempts: dict[int, float] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the reload loop (the first reload runs at once)."""
        if self._supervisor is None and not self._closed:
            self._supervisor = asyncio.create_task(self._supervise(), name="provider-agent")

    async def _supervise(self) -> None:
        while True:
            try:
                await self.reload()
            except Exception as exc:  # the database is away: keep what runs, try again later
                log.warning("provider list not reloaded", error=str(exc))
            await asyncio.sleep(self.settings.reload_interval)

    async def close(self) -> None:
        """Stop: remove every live binding (bounded wait), record the state; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        registrations = list(self._registrations.values())
        self._registrations.clear()
        stops = [self._retire(reg, record_state=True) for reg in registrations]
        if stops:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*stops), CLOSE_TIMEOUT)
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the provider list ----------------------------------------------------------------------
    async def reload(self) -> None:
        """Read the providers wanting registration and reconcile the running registrations."""
        if self._closed:
            return
        records = await self.store.providers.list_to_register(Scope.system())
        self.directory.update(records)
        if self.passive:
            return
        wanted = {r.id: r for r in records}
        for provider_id in list(self._registrations):
            if provider_id not in wanted:
                old = self._registrations.pop(provider_id)
                self._background_task(self._retire(old, record_state=False), "provider-retire")
        for provider_id, record in wanted.items():
            current = self._registrations.get(provider_id)
            if current is not None and not self._changed(current, record):
                current.record = record
                continue
            after = None
            if current is not None:
                del self._registrations[provider_id]
                after = self._background_task(
                    self._retire(current, record_state=False), "provider-retire"
                )
            self._begin(record, after)

    @staticmethod
    def _changed(current: _Registration, record: ProviderRecord) -> bool:
        if _fingerprint(current.record) != _fingerprint(record):
            return True
        # the owner edited a disabled registration: the repository made it pending again (a
        # read older than our own "disabled" write is not an edit)
        return (
            current.core.phase == Phase.DISABLED
            and record.registration_status != RegistrationStatus.DISABLED
            and record.updated_at.timestamp() > current.disabled_at
        )

    def _begin(self, record: ProviderRecord, after: asyncio.Task[None] | None) -> None:
        now = self.clock.now()
        secret = self.directory.secret
        disabled: str | None = None
        plan: RegistrationPlan | None = None
        try:
            plan = plan_for(record, secret)
        except PlanError as exc:
            disabled = f"settings: {exc}; registration disabled"
        if record.registration_status == RegistrationStatus.DISABLED:
            disabled = record.last_error or "registration disabled"
        core = RegistrationCore(
            self.policy,
            expiry=record.register_expiry,
            now=now,
            random=self.random,
            last_attempt=self._last_attempts.get(record.id),
            not_before=self._not_before(record, now),
            disabled_reason=disabled,
        )
        reg = _Registration(
            record, plan, core, self.call_ids(), disabled_at=record.updated_at.timestamp()
        )
        self._registrations[record.id] = reg
        reg.task = asyncio.create_task(self._run(reg, after), name=f"provider-{record.id}")

    def _not_before(self, record: ProviderRecord, now: float) -> float | None:
        """A failed registration's next attempt, as a previous run recorded it (no flood after a
        crash loop), capped at one back-off from now."""
        at = record.next_attempt_at
        if record.registration_status != RegistrationStatus.FAILED or at is None:
            return None
        wait = at.timestamp() - self.clock.wall()
        cap = self.policy.backoff + self.policy.jitter
        return now + min(max(wait, 0.0), cap)

    def snapshot(self, provider_id: int) -> Snapshot | None:
        reg = self._registrations.get(provider_id)
        return None if reg is None else reg.core.snapshot()

    def core(self, provider_id: int) -> RegistrationCore | None:
        reg = self._registrations.get(provider_id)
        return None if reg is None else reg.core

    # -- one registration -----------------------------------------------------------------------
    async def _run(self, reg: _Registration, after: asyncio.Task[None] | None) -> None:
        if after is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(after)
        if reg.core.phase == Phase.DISABLED:
            if reg.record.registration_status != RegistrationStatus.DISABLED:
                await self._record(reg, None)
            return
        while True:
            now = self.clock.now()
            send = reg.core.poll(now)
            if send is None:
                due = reg.core.due
                if due is None:
                    return
                await asyncio.sleep(min(max(due - now, 0.0), 3600.0))
                continue
            self._last_attempts[reg.record.id] = now
            outcome = await self._send(reg, send)
            reg.core.on_outcome(self.clock.now(), outcome)
            if reg.core.snapshot().status == RegistrationStatus.DISABLED:
                reg.disabled_at = self.clock.wall()
            await self._record(reg, outcome)

    async def _send(self, reg: _Registration, send: Send) -> Outcome:
        plan = reg.plan
        assert plan is not None
        if send.unregister:
            if reg.contact is None:
                return NoAnswer("never sent")
            contact = reg.contact
        else:
            try:
                targets = await self.resolver.resolve(plan.route or plan.registrar)
            except ResolutionError as exc:
                return DnsFailure(str(exc))
            reg.target = targets[0]
            try:
                host, port = self.uac.local_contact_host(reg.target.transport, reg.target.host_ip)
            except UacError as exc:
                return NoAnswer(exc.reason)
            contact = contact_uri(plan, host, port, reg.target.transport)
            reg.contact = contact
        request = build_register(
            plan,
            contact,
            expires=send.expires,
            call_id=reg.call_id,
            cseq=reg.cseq,
            from_tag=reg.from_tag,
            user_agent=self.user_agent,
        )
        try:
            response = await self.uac.request(
                request,
                credentials=plan.credentials,
                timeout=float(self.settings.request_timeout),
            )
        except UacError as failed:
            if failed.reason.startswith("cannot resolve"):
                return DnsFailure(failed.reason)
            return NoAnswer(failed.reason)
        finally:
            reg.cseq = request.cseq.seq + 1  # the client may have used one more (digest round)
        return outcome_of(response, contact, send.expires)

    async def _retire(self, reg: _Registration, *, record_state: bool) -> None:
        """Stop ``reg``: cancel its loop, un-REGISTER if a binding may exist."""
        if reg.task is not None:
            reg.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reg.task
        send = reg.core.stop(self.clock.now())
        if send is not None and reg.plan is not None:
            try:
                outcome = await self._send(reg, send)
            except Exception as exc:  # shutting down: note it and go on
                outcome = NoAnswer(str(exc))
            reg.core.on_outcome(self.clock.now(), outcome)
            log.info(
                "provider un-registered",
                provider=reg.record.name,
                owner=reg.record.owner_id,
                outcome=type(outcome).__name__,
            )
        if record_state and reg.core.phase != Phase.DISABLED:
            with contextlib.suppress(Exception):
                await self.store.providers.set_registration(
                    Scope.system(), reg.record.id, RegistrationStatus.PENDING
                )

    # -- recording ------------------------------------------------------------------------------
    def _wall(self, monotonic: float | None) -> dt.datetime | None:
        if monotonic is None:
            return None
        return dt.datetime.fromtimestamp(self.clock.wall() + (monotonic - self.clock.now()), dt.UTC)

    async def _record(self, reg: _Registration, outcome: Outcome | None) -> None:
        record = reg.record
        snap = reg.core.snapshot()
        try:
            await self.store.providers.set_registration(
                Scope.system(),
                record.id,
                snap.status,
                last_error=snap.last_error,
                next_attempt_at=self._wall(snap.next_attempt),
            )
        except Exception as exc:  # a database outage must not stop the registration
            log.warning("registration state not saved", provider=record.name, error=str(exc))
        target = reg.target
        remote = None if target is None else f"{target.host_ip}:{target.port}"
        if isinstance(outcome, Registered):
            kind = EventKind.CONTACT_REGISTERED
            message = f"provider {record.name}: registered {reg.contact} for {reg.core.granted} s"
            log.info("provider registered", provider=record.name, expires=reg.core.granted)
        else:
            kind = EventKind.CONTACT_FAILED
            message = f"provider {record.name}: {snap.last_error}"
            log.warning("provider registration failed", provider=record.name, error=snap.last_error)
        self.events.publish(
            ConsoleEvent(
                kind=kind,
                owner=record.owner_id,
                time=self.clock.wall(),
                message=message,
                remote=remote,
                transport=None if target is None else target.transport,
                sip_method="REGISTER",
            )
        )

    def _background_task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task
