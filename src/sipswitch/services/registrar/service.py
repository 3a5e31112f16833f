"""REGISTER (RFC 3261 §10.3): digest challenge per account domain, then the binding update.

Runs synchronously on the event loop with every piece of state in memory (account auth data,
bindings, nonces, security counters); the only await is a storage look-up for an account that is
not in the in-memory copy yet. Unknown accounts and wrong passwords get the same 401 (the digest
check of an unknown user runs against a dummy secret), so accounts cannot be enumerated.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from sipswitch.config import RegistrarSettings
from sipswitch.runtime.clock import Clock
from sipswitch.runtime.events import ConsoleEvent, EventBus, EventKind
from sipswitch.runtime.metrics import Metrics
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.services.location import LocationService
from sipswitch.services.registrar.accounts import AccountAuth, AccountDirectory
from sipswitch.services.registrar.policy import (
    ExpiryPolicy,
    Plan,
    Registration,
    Rejected,
    contact_listing,
    plan,
)
from sipswitch.services.security import SecurityGuard, SecurityService
from sipswitch.sip.auth import Credentials
from sipswitch.sip.builders import RandomPool
from sipswitch.sip.digest import Algorithm, AuthResult, DigestServer
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.uri import SipUri

log = structlog.get_logger("sipswitch.registrar")

Spawn = Callable[[Coroutine[Any, Any, None], str], None]


class Registrar:
    """The REGISTER service (``dispatcher.register("REGISTER", registrar)``)."""

    def __init__(
        self,
        *,
        accounts: AccountDirectory,
        location: LocationService,
        security: SecurityService,
        settings: RegistrarSettings,
        clock: Clock,
        events: EventBus,
        metrics: Metrics,
        spawn: Spawn,
        local_for: Callable[[str], str] = lambda transport: transport,
        nonce_lifetime: float = 300.0,
        secret: bytes | None = None,
    ) -> None:
        self.accounts = accounts
        self.location = location
        self.security = security
        self.guard: SecurityGuard = security.guard
        self.settings = settings
        self.policy = ExpiryPolicy.from_settings(settings)
        self.clock = clock
        self.events = events
        self.metrics = metrics
        self.spawn = spawn
        self.local_for = local_for
        self.nonce_lifetime = nonce_lifetime
        self._secret = secret or secrets.token_bytes(32)
        self._digest: dict[str, DigestServer] = {}
        self._random = RandomPool()  # nonce randomness, a few KiB per system call
        patterns = settings.md5_only_user_agents
        self._md5_only = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def digest(self, realm: str) -> DigestServer:
        server = self._digest.get(realm)
        if server is None:
            server = DigestServer(
                realm,
                self._secret,
                nonce_lifetime=self.nonce_lifetime,
                algorithms=tuple(Algorithm(a) for a in self.settings.digest_algorithms),
                random_bytes=self._random,
            )
            self._digest[realm] = server
        return server

    # -- entry --------------------------------------------------------------------------------
    def __call__(self, incoming: IncomingRequest) -> None:
        request = incoming.request
        try:
            to = request.to
            request.call_id  # noqa: B018 - validate early
            request.cseq  # noqa: B018
        except SipParseError as exc:
            incoming.respond(400, exc.reason)
            return
        uri = to.uri
        if not isinstance(uri, SipUri):  # RFC 4475 §3.3.4 (unksm2)
            incoming.respond(400, "To is not a SIP or SIPS URI")
            return
        if not uri.user:
            incoming.respond(400, "To has no user part")
            return
        found = self.accounts.get(uri.user, uri.host, self.clock.wall())
        if found is False:
            self.spawn(self._fetch_then_process(incoming, uri), "registrar-fetch")
            return
        assert found is None or isinstance(found, AccountAuth)
        self._process(incoming, uri, found)

    async def _fetch_then_process(self, incoming: IncomingRequest, uri: SipUri) -> None:
        assert uri.user is not None
        try:
            found = await self.accounts.fetch(uri.user, uri.host, self.clock.wall())
        except Exception as exc:
            log.warning("account look-up failed", error=str(exc))
            incoming.respond(500, "Service Unavailable", headers=[("Retry-After", "30")])
            return
        self._process(incoming, uri, found)

    # -- authentication (RFC 3261 §22.4, RFC 8760) --------------------------------------------
    def _process(self, incoming: IncomingRequest, uri: SipUri, account: AccountAuth | None) -> None:
        request = incoming.request
        now = self.clock.wall()
        ip = incoming.source[0]
        realm = account.domain if account is not None else self.accounts.domain(uri.host)
        aor = account.aor if account is not None else f"{uri.user}@{realm}"
        try:
            credentials = request.authorization
        except SipParseError:
            credentials = None
        if credentials is None or not credentials.is_digest or credentials.realm != realm:
            self._challenge(incoming, realm, now)
            return
        if self.guard.account_ban(aor, now) is not None and not self._known_source(aor, ip):
            self._fail(incoming, account, 403, "Forbidden", "account locked (failed digests)")
            return
        result = self._verify(
            credentials, request_uri=request.uri_text, realm=realm, account=account, now=now, ip=ip
        )
        if result is AuthResult.OK:
            assert account is not None
            self.guard.auth_succeeded(ip)
            if not account.usable:
                self._fail(incoming, account, 403, "Forbidden", "account disabled")
                return
            self._register(incoming, account, now)
        elif result is AuthResult.STALE:
            self._challenge(incoming, realm, now, stale=True)
        elif result is AuthResult.WRONG_RESPONSE:
            self.security.auth_failed(ip, aor, now, incoming)
            if self.guard.source_ban(ip, now) is not None:
                self._fail(incoming, account, 403, "Forbidden", "authentication failed; banned")
            else:
                self._emit_fail(account, incoming, "authentication failed")
                self._challenge(incoming, realm, now, count=False)
        else:
            self._challenge(incoming, realm, now)

    def _verify(
        self,
        credentials: Credentials,
        *,
        request_uri: str,
        realm: str,
        account: AccountAuth | None,
        now: float,
        ip: str,
    ) -> AuthResult:
        def ha1(username: str, _realm: str, algorithm: Algorithm) -> str | None:
            if account is None or username != account.username:
                return None  # another account's credentials never own this AOR (no hijacking)
            return account.ha1(algorithm)

        return self.digest(realm).verify(
            credentials,
            method="REGISTER",
            request_uri=request_uri,
            now=now,
            lookup_ha1=ha1,
            client_address=ip,
        )

    def _known_source(self, aor: str, ip: str) -> bool:
        """A phone already registered from ``ip`` keeps working through an account lock-out."""
        return any(b.source_ip == ip for b in self.location.lookup(aor))

    def _challenge(
        self, incoming: IncomingRequest, realm: str, now: float, *, stale: bool = False,
        count: bool = True,
    ) -> None:  # fmt: skip
        incoming.respond(401, headers=self.challenge_headers(incoming, realm, now, stale=stale))

    def authenticate_request(
        self, incoming: IncomingRequest, account: AccountAuth, *, proxy: bool = False
    ) -> bool:
        """Digest for a request from ``account``'s own phone (an INVITE, a REFER; RFC 3261
        §22): True when its credentials verify. Otherwise it answers the challenge itself: 401
        with WWW-Authenticate, or with ``proxy`` 407 with Proxy-Authenticate (§22.3)."""
        request = incoming.request
        realm = account.domain
        now = self.clock.wall()
        stale = False
        try:
            credentials = request.authorization or request.proxy_authorization
        except SipParseError:
            credentials = None
        if credentials is not None:

            def ha1(username: str, _realm: str, algorithm: Algorithm) -> str | None:
                return account.ha1(algorithm) if username == account.username else None

            result = self.digest(realm).verify(
                credentials,
                method=request.method,
                request_uri=request.uri_text,
                now=now,
                lookup_ha1=ha1,
                client_address=incoming.source[0],
            )
            if result is AuthResult.OK:
                return True
            stale = result is AuthResult.STALE
            if not stale:
                log.info(
                    "request auth failed",
                    method=request.method,
                    account=account.aor,
                    result=str(result),
                )
        headers = self.challenge_headers(incoming, realm, now, stale=stale)
        if proxy:
            incoming.respond(407, headers=[("Proxy-Authenticate", v) for _, v in headers])
        else:
            incoming.respond(401, headers=headers)
        return False

    def challenge_headers(
        self, incoming: IncomingRequest, realm: str, now: float, *, stale: bool = False
    ) -> list[tuple[str, str]]:
        """WWW-Authenticate fields for a 401: every configured algorithm (RFC 8760 §2.4), or
        MD5 alone for User-Agents known to refuse a 401 with a challenge they can't answer."""
        challenges = self.digest(realm).challenge_texts(
            now, client_address=incoming.source[0], stale=stale
        )
        agent = incoming.request.get("User-Agent")
        if agent and self._md5_only is not None and self._md5_only.search(agent):
            md5 = tuple(c for c in challenges if c[0] is Algorithm.MD5)
            challenges = md5 or challenges
        return [("WWW-Authenticate", text) for _, text in challenges]

    # -- the binding update (§10.3 steps 6-8) -------------------------------------------------
    def _register(self, incoming: IncomingRequest, account: AccountAuth, now: float) -> None:
        request = incoming.request
        try:
            star = request.contact_is_star
            contacts = tuple(request.contacts)
            expires = request.expires
            cseq = request.cseq.seq
            call_id = request.call_id
        except SipParseError as exc:
            self._fail(incoming, account, 400, exc.reason, f"bad request: {exc.reason}")
            return
        user_agent = (request.get("User-Agent") or "")[:255]
        ip, port = incoming.source
        registration = Registration(
            aor=account.aor,
            account_id=account.id,
            owner_id=account.owner_id,
            contacts=contacts,
            star=star,
            expires=expires,
            call_id=call_id,
            cseq=cseq,
            user_agent=user_agent,
            source_ip=ip,
            source_port=port,
            transport=incoming.transport,
            local=self.local_for(incoming.transport),
            keepalive=account.keepalive,
        )
        outcome = plan(
            self.location.bindings(account.aor),
            registration,
            self.policy,
            max_bindings=self.settings.max_bindings,
            now=now,
        )
        if isinstance(outcome, Rejected):
            self._fail(
                incoming,
                account,
                outcome.status,
                outcome.reason,
                outcome.reason,
                headers=outcome.headers,
            )
            return
        self._commit(account, outcome)
        rule = self.policy.rule_for(user_agent)
        shown = outcome.bindings
        if rule is not None and rule.own_contacts_only:
            shown = tuple(b for b in outcome.bindings if b.id in outcome.own)
        headers = [("Contact", value) for value in contact_listing(shown, now)]
        incoming.respond(200, headers=headers)
        self.metrics.registration(success=True)
        what = (
            "query" if not contacts and not star else
            f"{len(outcome.bindings)} binding(s)"
        )  # fmt: skip
        self._emit(EventKind.REGISTER_SUCCESS, account.owner_id, incoming, f"{account.aor}: {what}")

    def _commit(self, account: AccountAuth, outcome: Plan) -> None:
        if not (outcome.added or outcome.refreshed or outcome.removed or outcome.evicted):
            return
        self.location.commit(account.aor, outcome.bindings, outcome.removed + outcome.evicted)
        for binding in outcome.removed:
            self.location.removed(binding, "unregistered")
        for binding in outcome.evicted:
            self.location.removed(binding, f"over the cap of {self.settings.max_bindings}")

    # -- outcomes -----------------------------------------------------------------------------
    def _fail(
        self,
        incoming: IncomingRequest,
        account: AccountAuth | None,
        status: int,
        reason: str,
        why: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        incoming.respond(status, reason, headers=headers)
        self._emit_fail(account, incoming, f"{status} {why}")

    def _emit_fail(self, account: AccountAuth | None, incoming: IncomingRequest, why: str) -> None:
        self.metrics.registration(success=False)
        owner = account.owner_id if account is not None else None
        try:
            aor = str(incoming.request.to.uri)
        except SipParseError:
            aor = "?"
        self._emit(EventKind.REGISTER_FAIL, owner, incoming, f"{aor}: {why}")

    def _emit(
        self, kind: EventKind, owner: int | None, incoming: IncomingRequest, text: str
    ) -> None:
        events = self.events
        if not events.listening(owner):
            events.published += 1
            return
        ip, port = incoming.source
        try:
            call_id: str | None = incoming.request.call_id
        except SipParseError:
            call_id = None
        self.events.publish(
            ConsoleEvent(
                kind=kind,
                owner=owner,
                time=self.clock.wall(),
                message=text,
                call_id=call_id,
                remote=f"{ip}:{port}",
                transport=incoming.transport,
                sip_method="REGISTER",
            )
        )
