"""What we send to a provider's registrar, and how its answer reads (RFC 3261 §10.2).

The Contact we register routes calls back to the owning customer: its user part is an opaque
per-provider token (an HMAC of the provider id and owner, keyed by ``providers.contact_secret``
or, when that is unset, by the provider's own password and creation time), and a stable
``rinstance`` URI parameter keeps the binding unique per provider (X-Lite style). Both stay the
same across restarts, so a re-REGISTER refreshes the provider's binding instead of adding one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from sipswitch.services.providers.core import NoAnswer, Outcome, Registered, Rejected
from sipswitch.sip.address import Address
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.message import Request, Response
from sipswitch.sip.uri import SipUri, parse_sip_uri
from sipswitch.storage.records import ProviderRecord

#: the token's prefix: marks a Request-URI user as one of our provider contacts
TOKEN_PREFIX = "pr"


class PlanError(ValueError):
    """The provider's settings cannot make a REGISTER (the reason is shown to its owner)."""


def _key(record: ProviderRecord, secret: bytes | None) -> bytes:
    if secret:
        return secret
    material = f"{record.password or ''}\x00{record.created_at.isoformat()}"
    return hashlib.sha256(material.encode()).digest()


def _mac(record: ProviderRecord, secret: bytes | None, purpose: str) -> bytes:
    message = f"sipswitch-provider-{purpose}:{record.id}:{record.owner_id}".encode()
    return hmac.new(_key(record, secret), message, hashlib.sha256).digest()


def contact_token(record: ProviderRecord, secret: bytes | None) -> str:
    """The provider's Contact user: ``pr`` + 24 base32 characters (120 bits), lower case."""
    text = base64.b32encode(_mac(record, secret, "contact")[:15]).decode().lower()
    return TOKEN_PREFIX + text


def rinstance(record: ProviderRecord, secret: bytes | None) -> str:
    return _mac(record, secret, "rinstance")[:8].hex()


def _as_uri(text: str, field: str) -> SipUri:
    """``host``, ``host:port`` or a SIP URI as a URI (user, headers dropped)."""
    value = text.strip()
    if not value.lower().startswith(("sip:", "sips:")):
        value = f"sip:{value}"
    try:
        uri = parse_sip_uri(value)
    except (SipParseError, ValueError):
        raise PlanError(f"{field}: not a host or SIP URI: {text!r}") from None
    return SipUri(uri.host, port=uri.port, scheme=uri.scheme, params=uri.params)


@dataclass(frozen=True, slots=True)
class RegistrationPlan:
    """Where and as whom we register (derived from a provider record)."""

    registrar: SipUri  # the Request-URI: the registrar's domain, no user part (§10.2)
    aor: SipUri  # To and From: the provider account's address of record
    route: SipUri | None  # the outbound proxy, loose-routed
    credentials: tuple[str, str] | None
    token: str
    rinstance: str
    transport: str | None  # the registrar URI's explicit transport, if any


def plan_for(record: ProviderRecord, secret: bytes | None) -> RegistrationPlan:
    """The plan for ``record``; raises :class:`PlanError` when the settings cannot work."""
    if not record.username:
        raise PlanError("no username to register as")
    home = _as_uri(record.server, "server")
    registrar = (
        _as_uri(record.register_server, "register_server") if record.register_server else home
    )
    aor = SipUri(home.host, user=record.username, port=home.port, scheme=home.scheme)
    route = None
    if record.outbound_proxy:
        route = _as_uri(record.outbound_proxy, "outbound_proxy").with_param("lr")
    auth_user = record.auth_username or record.username
    credentials = None if record.password is None else (auth_user, record.password)
    return RegistrationPlan(
        registrar=registrar,
        aor=aor,
        route=route,
        credentials=credentials,
        token=contact_token(record, secret),
        rinstance=rinstance(record, secret),
        transport=registrar.transport,
    )


def contact_uri(plan: RegistrationPlan, host: str, port: int, transport: str) -> SipUri:
    """``sip:<token>@<our host>:<port>;rinstance=..`` (+ ``transport`` when not UDP)."""
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare
    params: tuple[tuple[str, str | None], ...] = (("rinstance", plan.rinstance),)
    if transport != "udp":
        params = (("transport", transport), *params)
    scheme = "sips" if plan.registrar.scheme == "sips" else "sip"
    return SipUri(shown, user=plan.token, port=port, scheme=scheme, params=params)


def build_register(
    plan: RegistrationPlan,
    contact: SipUri,
    *,
    expires: int,
    call_id: str,
    cseq: int,
    from_tag: str,
    user_agent: str,
) -> Request:
    """A REGISTER (§10.2); the client adds the Via. ``expires`` 0 removes our binding."""
    headers = [
        ("Max-Forwards", "70"),
        ("From", str(Address(plan.aor).with_tag(from_tag))),
        ("To", str(Address(plan.aor))),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} REGISTER"),
        ("Contact", str(Address(contact))),
        ("Expires", str(expires)),
        ("User-Agent", user_agent),
        ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY"),
    ]
    if plan.route is not None:
        headers.insert(0, ("Route", f"<{plan.route}>"))
    return Request("REGISTER", plan.registrar, headers)


def _ours(address: Address, contact: SipUri) -> bool:
    uri = address.uri
    if not isinstance(uri, SipUri):
        return False
    if uri == contact:
        return True
    # a provider may rewrite the host (NAT "fixing"); the token and rinstance still say it
    mark = contact.param("rinstance")
    return uri.user == contact.user and (mark is None or uri.param("rinstance") in (None, mark))


def granted_expiry(response: Response, contact: SipUri, requested: int) -> int:
    """§10.2.4: our Contact's ``expires`` in the 200, else the Expires header, else what we
    asked for. The caller floors it."""
    try:
        for address in response.contacts:
            if _ours(address, contact) and address.expires is not None:
                return address.expires
        if response.expires is not None:
            return response.expires
    except ValueError:  # SipParseError, or Address.expires on a non-ASCII digit
        pass
    return requested


def _retry_after(response: Response) -> int | None:
    value = (response.get("Retry-After") or "").split(";")[0].split("(")[0].strip()
    return int(value) if value.isascii() and value.isdigit() else None


def outcome_of(response: Response, contact: SipUri, requested: int) -> Outcome:
    """The core's view of a final response to our REGISTER."""
    status = response.status
    if 200 <= status < 300:
        return Registered(granted_expiry(response, contact, requested))
    if status == 408:
        return NoAnswer(f"408 {response.reason}")
    try:
        min_expires = response.min_expires
    except ValueError:  # SipParseError included
        min_expires = None
    return Rejected(status, response.reason, min_expires, _retry_after(response))
