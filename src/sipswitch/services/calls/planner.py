"""From dial-string legs to legs ready to dial: accounts' bindings, RFC 3263 targets,
and what a dialplan changed (From, custom headers).

A ``user@local`` leg rings the account's bindings, or, when the account has an in dialplan,
**loops back** through the switch: an INVITE for ``sip:user@domain`` to our own listener,
signed with :data:`~sipswitch.services.calls.client_leg.LOOP_HEADER` (an HMAC of its Call-ID,
From tag and Request-URI under a per-process secret). The router accepts only a valid mark,
removes it, and routes the looped INVITE as **In** to that account, so its in dialplan runs as
for any call to it (and the original caller, maybe one of our accounts, is not taken for an
Out call). Each pass takes one off Max-Forwards, so dialplans dialling each other in a circle
end with 483. The account whose in dialplan is running (``home``) rings its own bindings.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from sipswitch.runtime.uac import UacError
from sipswitch.services.calls.client_leg import LOOP_HEADER, Destination, loop_token
from sipswitch.services.calls.model import Expand, PlannedLeg
from sipswitch.services.calls.setup import leg_setup
from sipswitch.services.dialplan import DialPlan, LegSpec, LocalTarget, ProviderTarget, UriTarget
from sipswitch.services.location.service import LocationService
from sipswitch.services.registrar.accounts import AccountAuth, AccountDirectory
from sipswitch.sip.address import parse_address
from sipswitch.sip.dialog import untagged
from sipswitch.sip.digest import DigestClient
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import escape
from sipswitch.sip.message import Request
from sipswitch.sip.uri import USER_SAFE, SipUri, parse_sip_uri
from sipswitch.storage import Scope, Store
from sipswitch.transport.dns import ResolutionError, SipResolver

log = structlog.get_logger("sipswitch.planner")


@dataclass
class Overrides:
    """What a dialplan set for the legs it dials (sys.set_from_header, custom headers)."""

    from_display: str | None = None
    from_user: str | None = None
    from_host: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


#: our own listener as a peer sees it: (transport, toward ip) → (host, port)
LocalAddress = Callable[[str, str], tuple[str, int]]


@dataclass
class LegPlanner:
    accounts: AccountDirectory
    location: LocationService
    resolver: SipResolver
    store: Store | None = None
    #: where looped ``user@local`` legs go (our listener); None: such legs ring bindings
    loopback: LocalAddress | None = None
    loop_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def expander(
        self,
        invite: Request,
        plan: DialPlan,
        domain: str,
        overrides: Overrides | None = None,
        *,
        owner: int | None = None,
        home: str | None = None,
    ) -> tuple[int, Expand]:
        """``home``: the AOR whose in dialplan runs (its ``user@local`` rings its bindings)."""
        groups = plan.groups
        extra = overrides or Overrides()

        async def expand(index: int) -> Sequence[PlannedLeg]:
            legs: list[PlannedLeg] = []
            for spec in groups[index].legs:
                legs.extend(await self.legs(invite, spec, domain, extra, owner=owner, home=home))
            return legs

        return len(groups), expand

    # -- looped legs ----------------------------------------------------------------------------
    def _loop(self, user: str, domain: str) -> Destination | None:
        """Our own listener, for a leg to an account with an in dialplan (module doc)."""
        found = self.accounts.get(user, domain, 0.0)
        if not isinstance(found, AccountAuth) or not found.in_dialplan or self.loopback is None:
            return None
        for transport in ("udp", "tcp"):
            try:
                host, port = self.loopback(transport, "127.0.0.1")
            except UacError:
                continue
            return Destination(SipUri(domain, user), (transport, host.strip("[]"), port))
        return None

    def take_loop_mark(self, request: Request) -> bool:
        """Whether ``request`` is a leg we looped to ourselves; the mark is removed either way
        (a forged or stale one is ignored, never trusted)."""
        mark = request.get(LOOP_HEADER)
        if mark is None:
            return False
        request.remove(LOOP_HEADER)
        uri = request.uri
        tag = request.from_.tag
        if not isinstance(uri, SipUri) or not uri.user or not tag:
            return False
        expected = loop_token(self.loop_secret, request.call_id, tag, uri)
        return hmac.compare_digest(mark.strip(), expected)

    async def provider_names(self, owner: int) -> list[str]:
        """The names a dial string may use as ``number@name`` for this owner."""
        if self.store is None:
            return []
        return [p.name for p in await self.store.providers.list(Scope.system(), owner)]

    async def legs(
        self,
        invite: Request,
        spec: LegSpec,
        domain: str,
        overrides: Overrides,
        *,
        owner: int | None = None,
        home: str | None = None,
    ) -> list[PlannedLeg]:
        target = spec.target
        options = spec.options
        if isinstance(target, ProviderTarget):
            return await self._provider_leg(invite, target, spec, overrides, owner)
        destinations: list[Destination] = []
        looped = False
        if isinstance(target, LocalTarget):
            account_domain = self.accounts.domain(
                domain if target.domain == "local" else target.domain
            )
            aor = f"{target.user}@{account_domain}"
            loop = None if aor == home else self._loop(target.user, account_domain)
            if loop is not None:
                destinations.append(loop)
                looped = True
            for binding in [] if looped else self.location.lookup(aor):
                try:
                    contact = parse_sip_uri(binding.uri)
                except SipParseError:
                    continue
                peer = (binding.transport, binding.source_ip, binding.source_port)
                destinations.append(Destination(contact, peer))
        elif isinstance(target, UriTarget):
            try:
                resolved = await self.resolver.resolve(target.uri)
            except ResolutionError as exc:
                log.info("cannot resolve leg", uri=str(target.uri), error=str(exc))
                return []
            first = resolved[0]
            destinations.append(
                Destination(target.uri, (first.transport, first.host_ip, first.port))
            )
        legs = []
        for destination in destinations:
            setup = leg_setup(
                invite,
                destination.uri,
                from_display=options.from_display or overrides.from_display,
                from_user=options.from_user or overrides.from_user,
                from_host=options.from_host or overrides.from_host,
            )
            setup.headers = tuple(overrides.headers.items())
            setup.follow_redirects = options.redirect.value == "f"
            if looped:
                setup.loop_key = self.loop_secret
            limit = float(options.duration_limit) if options.duration_limit else None
            legs.append(
                PlannedLeg(
                    destination,
                    setup,
                    delay=float(options.delay),
                    duration_limit=limit,
                    relay_183=not options.no_183_relay,
                    mangle_sdp=options.mangle_sdp,
                    transfer_mode=options.transfer.value,
                )
            )
        return legs

    async def _provider_leg(
        self,
        invite: Request,
        target: ProviderTarget,
        spec: LegSpec,
        overrides: Overrides,
        owner: int | None,
    ) -> list[PlannedLeg]:
        """``number@provider``: the owner's provider, its credentials, outbound proxy, From and
        custom headers (SIPSorcery's provider legs)."""
        if self.store is None or owner is None:
            return []
        provider = await self.store.providers.get_by_name(Scope.system(), target.provider, owner)
        if provider is None or provider.disabled:
            log.info("no such provider", provider=target.provider, owner=owner)
            return []
        try:
            uri = parse_sip_uri(f"sip:{escape(target.number, USER_SAFE)}@{provider.server}")
            hop = (
                parse_sip_uri(_as_uri(provider.outbound_proxy)) if provider.outbound_proxy else uri
            )
        except SipParseError as exc:
            log.info("bad provider server", provider=provider.name, error=exc.reason)
            return []
        try:
            resolved = await self.resolver.resolve(hop)
        except ResolutionError as unresolved:
            log.info("cannot resolve provider", provider=provider.name, error=str(unresolved))
            return []
        first = resolved[0]
        options = spec.options
        setup = leg_setup(
            invite,
            uri,
            from_display=options.from_display or overrides.from_display,
            from_user=options.from_user or overrides.from_user or provider.username,
            from_host=options.from_host or overrides.from_host or uri.host,
        )
        if provider.from_header:
            try:
                setup.from_address = untagged(parse_address(provider.from_header))
            except SipParseError:
                log.info("bad provider From", provider=provider.name)
        headers = [*provider.custom_headers, *overrides.headers.items()]
        if provider.outbound_proxy:
            headers.insert(0, ("Route", f"<{hop.with_param('lr')}>"))
        setup.headers = tuple(headers)
        if provider.password:
            setup.credentials = DigestClient(
                provider.auth_username or provider.username or "", provider.password
            )
        setup.follow_redirects = options.redirect.value == "f"
        limit = float(options.duration_limit) if options.duration_limit else None
        return [
            PlannedLeg(
                Destination(uri, (first.transport, first.host_ip, first.port)),
                setup,
                delay=float(options.delay),
                duration_limit=limit,
                relay_183=not options.no_183_relay,
                mangle_sdp=options.mangle_sdp,
                transfer_mode=options.transfer.value,
            )
        ]


def _as_uri(text: str) -> str:
    return text if text.lower().startswith(("sip:", "sips:")) else f"sip:{text}"
