"""From dial-string legs to legs ready to dial: accounts' bindings, RFC 3263 targets,
and what a dialplan changed (From, custom headers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from sipswitch.services.calls.call import Expand, PlannedLeg
from sipswitch.services.calls.client_leg import Destination
from sipswitch.services.calls.setup import leg_setup
from sipswitch.services.dialplan import DialPlan, LegSpec, LocalTarget, ProviderTarget, UriTarget
from sipswitch.services.location.service import LocationService
from sipswitch.services.registrar.accounts import AccountDirectory
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request
from sipswitch.sip.uri import parse_sip_uri
from sipswitch.transport.dns import ResolutionError, SipResolver

log = structlog.get_logger("sipswitch.planner")


@dataclass
class Overrides:
    """What a dialplan set for the legs it dials (sys.set_from_header, custom headers)."""

    from_display: str | None = None
    from_user: str | None = None
    from_host: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LegPlanner:
    accounts: AccountDirectory
    location: LocationService
    resolver: SipResolver

    def expander(
        self, invite: Request, plan: DialPlan, domain: str, overrides: Overrides | None = None
    ) -> tuple[int, Expand]:
        groups = plan.groups
        extra = overrides or Overrides()

        async def expand(index: int) -> Sequence[PlannedLeg]:
            legs: list[PlannedLeg] = []
            for spec in groups[index].legs:
                legs.extend(await self.legs(invite, spec, domain, extra))
            return legs

        return len(groups), expand

    async def legs(
        self, invite: Request, spec: LegSpec, domain: str, overrides: Overrides
    ) -> list[PlannedLeg]:
        target = spec.target
        options = spec.options
        destinations: list[Destination] = []
        if isinstance(target, LocalTarget):
            account_domain = domain if target.domain == "local" else target.domain
            aor = f"{target.user}@{self.accounts.domain(account_domain)}"
            for binding in self.location.lookup(aor):
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
        elif isinstance(target, ProviderTarget):
            log.info("provider legs are not dialled yet", provider=target.provider)
            return []
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
