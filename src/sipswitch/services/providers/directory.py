"""Which customer an incoming request arriving through a provider registration belongs to.

The call layer asks :meth:`ProviderDirectory.attribute` for each new INVITE (the dispatcher has
already checked the Request-URI host is ours: a served name, or when listening on a wildcard any
IP literal, see ``services/domains.py``). Rules, first match wins:

1. ``TOKEN``: the Request-URI user is a provider's contact token (what we registered; 120
   unguessable bits, so this alone is trusted).
2. ``CONTACT_USER``: the Request-URI user is the user part of a provider's configured
   ``register_contact`` (when exactly one provider has it).
3. ``TO_TOKEN``: the To user is a provider's token (the provider rewrote the Request-URI to the
   DID but kept our contact in To).
4. ``TO_AOR``: the To URI is the provider account's address of record (``username@server
   host``, the AOR we register), when exactly one provider matches; providers that put the DID
   in the Request-URI and the account in To land here.

Rules 2-4 rest on guessable values: :attr:`ProviderMatch.rule` says which rule matched so the
call layer can demand more (e.g. the source address) before trusting a weak match. Ambiguous
weak matches (two providers with the same value) give no match rather than a wrong owner.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sipswitch.services.providers.contact import PlanError, contact_token, plan_for
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request
from sipswitch.sip.uri import SipUri, parse_uri
from sipswitch.storage.records import ProviderRecord


class MatchRule(enum.StrEnum):
    TOKEN = "token"
    CONTACT_USER = "contact-user"
    TO_TOKEN = "to-token"
    TO_AOR = "to-aor"

    @property
    def strong(self) -> bool:
        return self in (MatchRule.TOKEN, MatchRule.TO_TOKEN)


@dataclass(frozen=True, slots=True)
class ProviderMatch:
    """The owner of an incoming request and the provider it came through."""

    customer_id: int
    provider_id: int
    provider_name: str
    rule: MatchRule
    #: ``user@domain`` of the owner's SIP account its calls go to (None: no incoming route)
    incoming_account: str | None = None


def _contact_user(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip().strip("<>")
    if not text.lower().startswith(("sip:", "sips:")):
        user = text.split("@", 1)[0] if "@" in text else text
        return user or None
    try:
        uri = parse_uri(text)
    except (SipParseError, ValueError):
        return None
    return uri.user if isinstance(uri, SipUri) else None


class ProviderDirectory:
    """An in-memory index of the providers we register to; :meth:`update` replaces it."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret
        self._tokens: dict[str, ProviderMatch] = {}
        self._contact_users: dict[str, list[ProviderMatch]] = {}
        self._aors: dict[tuple[str, str], list[ProviderMatch]] = {}

    def __len__(self) -> int:
        return len(self._tokens)

    def update(self, records: Iterable[ProviderRecord]) -> None:
        tokens: dict[str, ProviderMatch] = {}
        users: dict[str, list[ProviderMatch]] = {}
        aors: dict[tuple[str, str], list[ProviderMatch]] = {}
        for record in records:
            tokens[contact_token(record, self.secret)] = self._match(record, MatchRule.TOKEN)
            user = _contact_user(record.register_contact)
            if user:
                users.setdefault(user, []).append(self._match(record, MatchRule.CONTACT_USER))
            try:
                aor = plan_for(record, self.secret).aor
            except PlanError:
                continue
            if aor.user:
                key = (aor.user, aor.host.lower())
                aors.setdefault(key, []).append(self._match(record, MatchRule.TO_AOR))
        self._tokens, self._contact_users, self._aors = tokens, users, aors

    @staticmethod
    def _match(record: ProviderRecord, rule: MatchRule) -> ProviderMatch:
        return ProviderMatch(
            record.owner_id, record.id, record.name, rule, record.incoming_account or None
        )

    def token_of(self, provider_id: int) -> str | None:
        for token, match in self._tokens.items():
            if match.provider_id == provider_id:
                return token
        return None

    def attribute(self, request: Request) -> ProviderMatch | None:
        """The provider registration ``request`` arrived through (rules in the module doc)."""
        try:
            ruri = request.uri
            to_uri = request.to.uri
        except (SipParseError, ValueError):
            return None
        r_user = ruri.user if isinstance(ruri, SipUri) else None
        if r_user:
            found = self._tokens.get(r_user)
            if found is not None:
                return found
            weak = self._contact_users.get(r_user, [])
            if len(weak) == 1:
                return weak[0]
        if isinstance(to_uri, SipUri) and to_uri.user:
            found = self._tokens.get(to_uri.user)
            if found is not None:
                return replace(found, rule=MatchRule.TO_TOKEN)
            weak = self._aors.get((to_uri.user, to_uri.host.lower()), [])
            if len(weak) == 1:
                return weak[0]
        return None
