"""Expiry policy and the binding update of one REGISTER (RFC 3261 §10.3 steps 6–8), pure.

:func:`plan` takes the AOR's current bindings and the request's contacts and returns either
the new binding set or the error to answer; nothing is changed until the caller commits it, so
a REGISTER's updates are applied all together or not at all (§10.3 step 7).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sipswitch.config import RegistrarSettings, UserAgentRule, parse_user_agent_rule
from sipswitch.sip.address import Address
from sipswitch.sip.builders import random_hex
from sipswitch.sip.uri import SipUri, parse_uri
from sipswitch.storage.bindings import BindingRecord


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """Granted expiry = min(requested, the User-Agent's maximum), never below ``minimum``;
    a non-zero request below ``minimum`` gets 423 (§10.3 step 7, §20.23)."""

    minimum: int = 120
    maximum: int = 3600
    default: int = 3600
    rules: tuple[UserAgentRule, ...] = ()

    @classmethod
    def from_settings(cls, s: RegistrarSettings) -> ExpiryPolicy:
        rules = tuple(parse_user_agent_rule(text) for text in s.user_agent_expiry)
        return cls(s.min_expiry, s.max_expiry, s.default_expiry, rules)

    def rule_for(self, user_agent: str) -> UserAgentRule | None:
        for rule in self.rules:
            if rule.matches(user_agent):
                return rule
        return None

    def maximum_for(self, user_agent: str) -> int:
        rule = self.rule_for(user_agent)
        return self.maximum if rule is None else rule.max_expiry

    def too_brief(self, requested: int | None) -> bool:
        return requested is not None and 0 < requested < self.minimum

    def grant(self, requested: int | None, user_agent: str) -> int:
        """Seconds granted; 0 means remove."""
        if requested == 0:
            return 0
        cap = self.maximum_for(user_agent)
        wanted = self.default if requested is None else requested
        return max(min(wanted, cap), min(self.minimum, cap))


@dataclass(frozen=True, slots=True)
class Registration:
    """What the REGISTER says, parsed (§10.2)."""

    aor: str
    account_id: int
    owner_id: int
    contacts: tuple[Address, ...]
    star: bool
    expires: int | None  # the Expires header
    call_id: str
    cseq: int
    user_agent: str
    source_ip: str
    source_port: int
    transport: str
    local: str
    keepalive: bool


@dataclass(frozen=True, slots=True)
class Rejected:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """The AOR's bindings after the request, and what changed."""

    bindings: tuple[BindingRecord, ...]
    added: tuple[BindingRecord, ...] = ()
    refreshed: tuple[BindingRecord, ...] = ()
    removed: tuple[BindingRecord, ...] = ()
    evicted: tuple[BindingRecord, ...] = ()  # over the cap
    own: tuple[str, ...] = field(default=())  # ids of the request's own contacts


def contact_expires(address: Address) -> int | str | None:
    """The contact's ``expires`` param as seconds, None if absent, "bad" if unparsable."""
    raw = address.param("expires")
    if raw is None:
        return None
    text = raw.strip()
    if not text.isdigit():
        return "bad"
    return min(int(text), 2**31 - 1)


def contact_q(address: Address) -> float | str | None:
    raw = address.param("q")
    if raw is None:
        return None
    try:
        q = float(raw)
    except ValueError:
        return "bad"
    return q if 0.0 <= q <= 1.0 else "bad"


def _same_uri(a: str, b: SipUri | object) -> bool:
    try:
        return parse_uri(a) == b
    except ValueError:
        return a == str(b)


def _stale(binding: BindingRecord, reg: Registration) -> bool:
    """§10.3 step 7: same Call-ID and a CSeq not higher than the stored one."""
    return binding.call_id == reg.call_id and reg.cseq <= binding.cseq


def _contact_text(address: Address) -> str:
    """The Contact as stored: without its ``expires`` parameter."""
    if not any(n.lower() == "expires" for n, _ in address.params):
        return str(address)
    params = tuple((n, v) for n, v in address.params if n.lower() != "expires")
    return str(Address(address.uri, address.display_name, params))


def plan(
    current: Sequence[BindingRecord],
    reg: Registration,
    policy: ExpiryPolicy,
    *,
    max_bindings: int,
    now: float,
    new_id: Callable[[], str] = lambda: random_hex(8),
) -> Plan | Rejected:
    """Apply a REGISTER to the AOR's ``current`` bindings (RFC 3261 §10.3 steps 6–8)."""
    live = [b for b in current if b.expires_at > now]
    if reg.star:
        if reg.expires != 0:  # step 6
            return Rejected(400, "Contact * needs Expires: 0")
        for binding in live:
            if _stale(binding, reg):
                return Rejected(500, "Out of order CSeq")
        return Plan(bindings=(), removed=tuple(live))
    if not reg.contacts:
        return Plan(bindings=tuple(live))
    wanted: list[tuple[Address, int, float | None]] = []
    for address in reg.contacts:
        uri = address.uri
        if not isinstance(uri, SipUri) and uri.scheme.lower() != "tel":
            return Rejected(400, f"Unsupported contact scheme {uri.scheme}")
        expires = contact_expires(address)
        q = contact_q(address)
        if expires == "bad" or q == "bad":
            return Rejected(400, "Bad contact parameter")
        assert not isinstance(expires, str) and not isinstance(q, str)
        requested = expires if expires is not None else reg.expires
        if policy.too_brief(requested):
            return Rejected(423, "Interval Too Brief", (("Min-Expires", str(policy.minimum)),))
        wanted.append((address, policy.grant(requested, reg.user_agent), q))
    result = list(live)
    added: list[BindingRecord] = []
    refreshed: list[BindingRecord] = []
    removed: list[BindingRecord] = []
    own: list[str] = []
    for address, granted, q in wanted:
        index = next((i for i, b in enumerate(result) if _same_uri(b.uri, address.uri)), None)
        existing = result[index] if index is not None else None
        if existing is not None and _stale(existing, reg):
            return Rejected(500, "Out of order CSeq")
        if granted == 0:
            if existing is not None and index is not None:
                removed.append(existing)
                del result[index]
            continue
        fields = {
            "contact": _contact_text(address),
            "uri": str(address.uri),
            "q": q,
            "expires_at": now + granted,
            "call_id": reg.call_id,
            "cseq": reg.cseq,
            "source_ip": reg.source_ip,
            "source_port": reg.source_port,
            "transport": reg.transport,
            "local": reg.local,
            "user_agent": reg.user_agent,
            "instance": address.param("+sip.instance"),
            "reg_id": _int_or_none(address.param("reg-id")),
            "keepalive": reg.keepalive,
            "updated_at": now,
        }
        if existing is not None and index is not None:
            updated = BindingRecord(  # (dataclasses.replace walks fields(): slower)
                id=existing.id,
                aor=existing.aor,
                account_id=existing.account_id,
                owner_id=existing.owner_id,
                created_at=existing.created_at,
                **fields,  # type: ignore[arg-type]
            )
            result[index] = updated
            refreshed.append(updated)
            own.append(updated.id)
        else:
            created = BindingRecord(
                id=new_id(),
                aor=reg.aor,
                account_id=reg.account_id,
                owner_id=reg.owner_id,
                created_at=now,
                **fields,  # type: ignore[arg-type]
            )
            result.append(created)
            added.append(created)
            own.append(created.id)
    evicted: list[BindingRecord] = []
    if len(result) > max_bindings:
        mine = set(own)
        order = sorted(result, key=lambda b: (b.id in mine, b.updated_at, b.created_at))
        evicted = order[: len(result) - max_bindings]
        gone = {b.id for b in evicted}
        result = [b for b in result if b.id not in gone]
    return Plan(
        bindings=tuple(result),
        added=tuple(a for a in added if a not in evicted),
        refreshed=tuple(refreshed),
        removed=tuple(removed),
        evicted=tuple(evicted),
        own=tuple(i for i in own if i not in {b.id for b in evicted}),
    )


def _int_or_none(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    return min(int(text), 2**31 - 1)


def contact_listing(bindings: Sequence[BindingRecord], now: float) -> list[str]:
    """Contact header values for the 200 OK: each binding with its remaining expiry (§10.3
    step 8)."""
    out: list[str] = []
    for binding in bindings:
        remaining = binding.remaining(now)
        if remaining > 0:
            out.append(f"{binding.contact};expires={remaining}")
    return out
