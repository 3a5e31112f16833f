"""REFER from one of our accounts' own phones (the account's ``allow_refer``, off by default).

A leg's far end is account X's phone when the leg rings one of X's registrations (its peer
and Request-URI are a binding of X) and answered; or when the leg is the caller's, whose
INVITE came from X (its From) with X's digest credentials, i.e. the call went Out from X's
phone. Such a REFER is digest-challenged against X
(407, RFC 3261 §22.3; the nonce is bound to the phone's address) and, once authenticated,
carried out by the switch with X's privileges: the owner's ``transfer`` dialplan, else X's out
dialplan, else what X dials without one (``${dst}@local``).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from sipswitch.services.calls.call import Call
from sipswitch.services.calls.client_leg import ClientLeg
from sipswitch.services.calls.model import Expand
from sipswitch.services.calls.router import CallRouter
from sipswitch.services.calls.server_leg import ServerLeg
from sipswitch.services.dialplan import DialStringError
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.services.registrar.accounts import AccountAuth
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request
from sipswitch.sip.uri import SipUri, parse_sip_uri

log = structlog.get_logger("sipswitch.transfer")


@dataclass
class OwnPhones:
    """Recognises our accounts' phones on a call and authenticates their REFERs, with the
    call router's accounts, locations, digest and default routing."""

    router: CallRouter

    # -- whose phone is it? -------------------------------------------------------------------
    def account_of(self, call: Call, origin: ServerLeg | ClientLeg) -> AccountAuth | None:
        """The account (with ``allow_refer``) whose own phone is ``origin``'s far end: the
        answering leg, when it rings one of the account's registrations; the caller's leg,
        when the account placed the call from its phone."""
        if call.b is None:
            return None
        if origin is call.b and isinstance(origin, ClientLeg):
            return self._callee_account(origin)
        if origin is call.a and isinstance(origin, ServerLeg):
            return self._caller_account(origin)
        return None

    def _caller_account(self, leg: ServerLeg) -> AccountAuth | None:
        """The INVITE's From is the account, and it carried the account's credentials: the
        call router lets such an INVITE through only once they verify (the Out path)."""
        invite = leg.invite
        try:
            caller = invite.from_.uri
            credentials = invite.authorization or invite.proxy_authorization
        except SipParseError:
            return None
        if not isinstance(caller, SipUri) or not caller.user or credentials is None:
            return None
        if credentials.username != caller.user or not self.router.domains.is_local(caller.host):
            return None
        accounts = self.router.accounts
        domain = accounts.domain(caller.host)
        for account in accounts.allowing_refer():
            if account.usable and (account.username, account.domain) == (caller.user, domain):
                return account
        return None

    def _callee_account(self, leg: ClientLeg) -> AccountAuth | None:
        destination = leg.destination
        for account in self.router.accounts.allowing_refer():
            if not account.usable:
                continue
            for binding in self.router.planner.location.lookup(account.aor):
                peer = (binding.transport, binding.source_ip, binding.source_port)
                if peer != destination.peer:
                    continue
                try:
                    if parse_sip_uri(binding.uri) == destination.uri:
                        return account
                except SipParseError:
                    continue
        return None

    # -- is it really that phone? ---------------------------------------------------------------
    def authenticated(self, incoming: IncomingRequest, account: AccountAuth) -> bool:
        """Digest against ``account`` (RFC 3261 §22); answers 407 itself when not (yet)."""
        return self.router.registrar.authenticate_request(incoming, account, proxy=True)

    # -- with the account's privileges ----------------------------------------------------------
    async def default_plan(
        self, account: AccountAuth, invite: Request, dst: str
    ) -> tuple[int, Expand] | None:
        """What ``account``'s phone could call itself without an out dialplan (only our own
        accounts), planned for the transfer's INVITE."""
        try:
            plan = await self.router.default_out_plan(account, invite, dst)
        except DialStringError as exc:
            log.info("transfer dial string", account=account.aor, error=str(exc))
            return None
        if not plan.groups:
            return None
        return self.router.planner.expander(invite, plan, account.domain, owner=account.owner_id)


def from_router(router: object) -> OwnPhones | None:
    """Over the call service's router when it is the switch's :class:`CallRouter` (tests may
    route calls with a plain function: no phones are recognised then)."""
    return OwnPhones(router) if isinstance(router, CallRouter) else None
