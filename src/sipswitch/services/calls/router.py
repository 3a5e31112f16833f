"""Where a new INVITE goes (SIPSorcery semantics, see shared/REFERENCE.md "Dialplans"):

* From one of our accounts → **Out**: digest-challenged (401) against that account, then its out
  dialplan; with none, only our own accounts can be called (``${dst}@local``).
* To one of our accounts (Request-URI in a served domain) → **In**: its in dialplan, or with
  none, every binding rings.
* Through a provider registration (our contact token) → **In** for the provider's owner.

Dial plans are expanded group by group when the call reaches them: a local target rings every
binding of the account, a URI target is resolved by RFC 3263.
"""

from __future__ import annotations

import secrets
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
from sipswitch.services.providers import ProviderDirectory
from sipswitch.services.registrar.accounts import AccountAuth, AccountDirectory
from sipswitch.services.registrar.service import Registrar
from sipswitch.sip.digest import Algorithm, AuthResult
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

    async def __call__(self, incoming: IncomingRequest) -> Route | Driven | Reject | None:
        request = incoming.request
        uri = request.uri
        if not isinstance(uri, SipUri):
            return Reject(416)
        if not uri.user:
            return Reject(484, "Address Incomplete")
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
        if not self._authenticated(incoming, account):
            return None
        if not account.usable:
            return Reject(403, "Account disabled")
        if account.out_dialplan:
            return await self._dialplan(
                account, account.out_dialplan, Direction.OUT, uri.user or ""
            )
        context = _context(request, uri.user or "")
        try:
            plan = expand_dial_string(
                DEFAULT_OUT_DIAL_STRING,
                context,
                providers=await self.planner.provider_names(account.owner_id),
                is_local_domain=self.domains.is_local,
            )
        except DialStringError as exc:
            return Reject(500, f"Dial plan error: {exc}")
        return self._route(incoming, plan, account.owner_id, account.domain)

    def _authenticated(self, incoming: IncomingRequest, account: AccountAuth) -> bool:
        """Digest for calls from our accounts (RFC 3261 §22.2); answers 401 itself."""
        request = incoming.request
        realm = account.domain
        digest = self.registrar.digest(realm)
        now = self.clock.wall()
        stale = False
        try:
            credentials = request.authorization or request.proxy_authorization
        except SipParseError:
            credentials = None
        if credentials is not None:

            def ha1(username: str, _realm: str, algorithm: Algorithm) -> str | None:
                return account.ha1(algorithm) if username == account.username else None

            result = digest.verify(
                credentials,
                method="INVITE",
                request_uri=request.uri_text,
                now=now,
                lookup_ha1=ha1,
                client_address=incoming.source[0],
            )
            if result is AuthResult.OK:
                return True
            stale = result is AuthResult.STALE
            if not stale:
                log.info("call auth failed", account=account.aor, result=str(result))
        headers = self.registrar.challenge_headers(incoming, realm, now, stale=stale)
        incoming.respond(401, headers=headers)
        return False

    # -- In -------------------------------------------------------------------------------------
    async def _incoming(self, incoming: IncomingRequest, uri: SipUri) -> Route | Driven | Reject:
        request = incoming.request
        match = self.providers.attribute(request)
        if match is not None:
            # the provider's owner's incoming dialplan comes with the dialplans capability
            return Reject(480, "No incoming dialplan for provider calls")
        account = await self._account(uri.user or "", uri.host)
        if account is None:
            return Reject(404, "Not Found")
        if not account.usable:
            return Reject(403, "Account disabled")
        if account.in_dialplan:
            return await self._dialplan(account, account.in_dialplan, Direction.IN, uri.user or "")
        plan = DialPlan((Group((LegSpec(LocalTarget(account.username, account.domain)),)),))
        return self._route(incoming, plan, account.owner_id, account.domain)

    # -- plans ----------------------------------------------------------------------------------
    def _route(
        self, incoming: IncomingRequest, plan: DialPlan, owner: int, domain: str
    ) -> Route | Reject:
        if not plan.groups:
            return Reject(480, "Nothing to dial")
        count, expand = self.planner.expander(incoming.request, plan, domain, owner=owner)
        return Route(count, expand, owner=owner, ring_timeout=DEFAULT_RING_SECONDS, domain=domain)

    async def _dialplan(
        self, account: AccountAuth, name: str, direction: Direction, dst: str
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
        )

        async def drive(call: Call) -> None:
            await executor.execute(call, execution, dialplan)

        return Driven(
            drive,
            owner=account.owner_id,
            execution_id=secrets.token_hex(8),
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
