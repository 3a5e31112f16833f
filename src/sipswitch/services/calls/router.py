"""Where a new INVITE goes (SIPSorcery semantics, see shared/REFERENCE.md "Dialplans"):

* From one of our accounts → **Out**: digest-challenged (401) against that account, then its out
  dialplan; with none, only our own accounts can be called (``${dst}@local``).
* To one of our accounts (Request-URI in a served domain) → **In**: its in dialplan, or with
  none, every binding rings.
* Through a provider registration (see ``providers/directory.py``) → **In** for the provider's
  incoming account (``ProviderRecord.incoming_account``), exactly as a call to that account;
  the provider's name is passed to its in rules (``"provider": NAME``). A provider with no
  incoming account: 480.
* A ``user@local`` leg the switch looped to itself (a valid mark, see ``planner``) → **In** to
  that account whatever its From says.

Dial plans are expanded group by group when the call reaches them: a local target rings every
binding of the account, a URI target is resolved by RFC 3263.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from sipswitch.runtime.clock import Clock
from sipswitch.services.calls.call import Call
from sipswitch.services.calls.dialplans import DialplanExecutor, Execution
from sipswitch.services.calls.planner import LegPlanner
from sipswitch.services.calls.service import Driven, Reject, Route
from sipswitch.services.dialplan import (
    CallContext,
    DialPlan,
    DialStringError,
    Group,
    LegSpec,
    LocalTarget,
    expand_dial_string,
)
from sipswitch.services.dialplan.sandbox import Direction
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.services.domains import DomainDirectory
from sipswitch.services.providers import MatchRule, ProviderDirectory, ProviderMatch
from sipswitch.services.registrar.accounts import AccountAuth, AccountDirectory
from sipswitch.services.registrar.service import Registrar
from sipswitch.sip.builders import random_hex
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request
from sipswitch.sip.uri import SipUri
from sipswitch.storage import Scope

log = structlog.get_logger("sipswitch.router")

DEFAULT_OUT_DIAL_STRING = "${dst}@local"
DEFAULT_RING_SECONDS = 60.0


@dataclass
class CallRouter:
    """Decides each new INVITE's direction, owner and dial plan."""

    accounts: AccountDirectory
    planner: LegPlanner
    registrar: Registrar
    providers: ProviderDirectory
    domains: DomainDirectory
    clock: Clock
    dialplans: DialplanExecutor | None = None
    _zones: dict[int, tuple[float, str]] = field(default_factory=dict)
    #: "ring every binding" plans per account (immutable, built once)
    _ring_plans: dict[tuple[str, str], DialPlan] = field(default_factory=dict)

    async def __call__(self, incoming: IncomingRequest) -> Route | Driven | Reject | None:
        request = incoming.request
        uri = request.uri
        if not isinstance(uri, SipUri):
            return Reject(416)
        if not uri.user:
            return Reject(484, "Address Incomplete")
        if self.planner.take_loop_mark(request):
            account = await self._account(uri.user, uri.host)
            if account is None:
                return Reject(404, "Not Found")
            return await self._to_account(incoming, account, uri.user)
        caller = await self._caller_account(request)
        if caller is not None:
            return await self._outgoing(incoming, caller, uri)
        return await self._incoming(incoming, uri)

    # -- Out ------------------------------------------------------------------------------------
    async def _caller_account(self, request: Request) -> AccountAuth | None:
        caller = request.from_.uri
        if not isinstance(caller, SipUri) or not caller.user:
            return None
        if not self.domains.is_local(caller.host):
            return None
        return await self._account(caller.user, caller.host)

    async def _account(self, user: str, host: str) -> AccountAuth | None:
        now = self.clock.wall()
        found = self.accounts.get(user, host, now)
        if found is False:
            return await self.accounts.fetch(user, host, now)
        return found if isinstance(found, AccountAuth) else None

    async def _outgoing(
        self, incoming: IncomingRequest, account: AccountAuth, uri: SipUri
    ) -> Route | Driven | Reject | None:
        request = incoming.request
        if not self.registrar.authenticate_request(incoming, account):
            return None
        if not account.usable:
            return Reject(403, "Account disabled")
        if account.out_dialplan:
            return await self._dialplan(
                account, account.out_dialplan, Direction.OUT, uri.user or ""
            )
        try:
            plan = await self.default_out_plan(account, request, uri.user or "")
        except DialStringError as exc:
            return Reject(500, f"Dial plan error: {exc}")
        return self._route(incoming, plan, account.owner_id, account.domain)

    async def default_out_plan(self, account: AccountAuth, request: Request, dst: str) -> DialPlan:
        """What ``account`` dials without an out dialplan: ``${dst}@local``, only our own
        accounts (raises :class:`DialStringError`)."""
        return expand_dial_string(
            DEFAULT_OUT_DIAL_STRING,
            _context(request, dst),
            providers=await self.planner.provider_names(account.owner_id),
            is_local_domain=self.domains.is_local,
        )

    # -- In -------------------------------------------------------------------------------------
    async def _incoming(self, incoming: IncomingRequest, uri: SipUri) -> Route | Driven | Reject:
        match = self.providers.attribute(incoming.request)
        if match is not None:
            return await self._from_provider(incoming, match)
        account = await self._account(uri.user or "", uri.host)
        if account is None:
            return Reject(404, "Not Found")
        return await self._to_account(incoming, account, uri.user or "")

    async def _from_provider(
        self, incoming: IncomingRequest, match: ProviderMatch
    ) -> Route | Driven | Reject:
        """A call through a provider registration: In for its incoming account (which must
        belong to the provider's owner)."""
        user, _, host = (match.incoming_account or "").rpartition("@")
        account = await self._account(user, host) if user and host else None
        if account is None or account.owner_id != match.customer_id:
            if match.incoming_account:
                log.info(
                    "provider incoming account missing",
                    provider=match.provider_name,
                    account=match.incoming_account,
                )
            return Reject(480, f"No incoming route for provider {match.provider_name}")
        dst = _called(incoming.request, match, account)
        return await self._to_account(incoming, account, dst, provider=match.provider_name)

    async def _to_account(
        self,
        incoming: IncomingRequest,
        account: AccountAuth,
        dst: str,
        *,
        provider: str | None = None,
    ) -> Route | Driven | Reject:
        """**In** to one of our accounts: its in dialplan, or every binding rings."""
        if not account.usable:
            return Reject(403, "Account disabled")
        if account.in_dialplan:
            return await self._dialplan(
                account, account.in_dialplan, Direction.IN, dst, provider=provider
            )
        key = (account.username, account.domain)
        plan = self._ring_plans.get(key)
        if plan is None:
            if len(self._ring_plans) >= 10_000:
                self._ring_plans.clear()
            target = LegSpec(LocalTarget(account.username, account.domain))
            plan = self._ring_plans[key] = DialPlan((Group((target,)),))
        return self._route(incoming, plan, account.owner_id, account.domain, home=account.aor)

    # -- plans ----------------------------------------------------------------------------------
    def _route(
        self,
        incoming: IncomingRequest,
        plan: DialPlan,
        owner: int,
        domain: str,
        *,
        home: str | None = None,
    ) -> Route | Reject:
        if not plan.groups:
            return Reject(480, "Nothing to dial")
        count, expand = self.planner.expander(
            incoming.request, plan, domain, owner=owner, home=home
        )
        return Route(count, expand, owner=owner, ring_timeout=DEFAULT_RING_SECONDS, domain=domain)

    async def _dialplan(
        self,
        account: AccountAuth,
        name: str,
        direction: Direction,
        dst: str,
        *,
        provider: str | None = None,
    ) -> Driven | Reject:
        """The account's named dialplan as a driver of the call."""
        executor = self.dialplans
        if executor is None:
            return Reject(500, "Dialplans are not available")
        dialplan = await executor.load(account.owner_id, name)
        if dialplan is None:
            log.info("dialplan missing", account=account.aor, dialplan=name)
            return Reject(500, "Dialplan not found")
        execution = Execution(
            owner=account.owner_id,
            username=account.username,
            domain=account.domain,
            direction=direction,
            dialplan=name,
            dst=dst,
            timezone=await self._timezone(account.owner_id),
            provider=provider,
        )

        async def drive(call: Call) -> None:
            await executor.execute(call, execution, dialplan)

        return Driven(
            drive,
            owner=account.owner_id,
            execution_id=random_hex(8),
            domain=account.domain,
        )

    async def _timezone(self, owner: int) -> str:
        """The owner's time zone, read at most once a minute."""
        now = self.clock.now()
        cached = self._zones.get(owner)
        if cached is not None and cached[0] > now:
            return cached[1]
        customer = await self.planner.accounts.store.customers.get(Scope.system(), owner)
        zone = customer.timezone if customer is not None else "UTC"
        if len(self._zones) >= 4096:
            self._zones.clear()
        self._zones[owner] = (now + 60.0, zone)
        return zone


def _context(request: Request, dst: str) -> CallContext:
    caller = request.from_
    uri = caller.uri
    user = uri.user if isinstance(uri, SipUri) and uri.user else ""
    aor = f"{user}@{uri.host}" if isinstance(uri, SipUri) else ""
    return CallContext(
        dst=dst, from_name=caller.display_name or "", from_uri_user=user, from_aor=aor
    )


def _called(request: Request, match: ProviderMatch, account: AccountAuth) -> str:
    """The number a provider call was made to (the in dialplan's ``dst``): the Request-URI
    user when the provider put the DID there (our contact is then in To); with our contact in
    the Request-URI, the To user when it says something else (the DID), else the account."""
    uri = request.uri
    r_user = uri.user if isinstance(uri, SipUri) and uri.user else ""
    if match.rule in (MatchRule.TO_TOKEN, MatchRule.TO_AOR):
        return r_user or account.username
    try:
        to_uri = request.to.uri
    except SipParseError:
        return account.username
    to_user = to_uri.user if isinstance(to_uri, SipUri) and to_uri.user else ""
    return to_user if to_user and to_user != r_user else account.username
