"""Plain frozen values the repositories hand to the service layer (never live ORM objects)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Scope:
    """Who is acting. A customer sees only what it owns; an admin sees everything.

    ``customer_id`` is the acting customer; for an admin it may be None (the operator's CLI or a
    service acting for the whole switch, e.g. the registrar looking up any account).
    """

    customer_id: int | None
    admin: bool = False

    @classmethod
    def customer(cls, customer_id: int) -> Scope:
        return cls(customer_id, False)

    @classmethod
    def system(cls, acting_customer: int | None = None) -> Scope:
        return cls(acting_customer, True)

    def __post_init__(self) -> None:
        if not self.admin and self.customer_id is None:
            raise ValueError("a customer scope needs a customer id")


class RegistrationStatus(enum.StrEnum):
    """State of our registration to a provider (driven by the provider registration agent)."""

    IDLE = "idle"  # registration not wanted
    PENDING = "pending"  # wanted, not yet attempted (or due again)
    REGISTERED = "registered"
    FAILED = "failed"  # last attempt failed; retried at next_attempt_at
    DISABLED = "disabled"  # stopped for good (403/404, repeated DNS failure); see last_error


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: int
    username: str
    email: str | None
    is_admin: bool
    disabled: bool
    timezone: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DomainRecord:
    id: int
    name: str
    owner_id: int | None  # None: a service-wide domain
    aliases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SipAccountRecord:
    """A SIP account; ``domain`` is the canonical domain name and the digest realm."""

    id: int
    owner_id: int
    username: str
    domain: str
    ha1_md5: str = field(repr=False)
    ha1_sha256: str = field(repr=False)
    in_dialplan: str | None
    out_dialplan: str | None
    incoming_only: bool
    disabled: bool
    admin_disabled: bool
    nat_keepalive: bool
    ip_acl: tuple[str, ...]  # networks allowed to use it; empty: anywhere
    created_at: dt.datetime
    updated_at: dt.datetime
    allow_refer: bool = False  # REFER from this account's own authenticated phone is carried out

    @property
    def aor(self) -> str:
        return f"{self.username}@{self.domain}"

    @property
    def usable(self) -> bool:
        return not (self.disabled or self.admin_disabled)


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """An upstream provider. ``password`` is usable (we log in with it); it never shows in repr."""

    id: int
    owner_id: int
    name: str
    server: str
    username: str | None
    auth_username: str | None
    password: str | None = field(repr=False)
    outbound_proxy: str | None
    from_header: str | None
    custom_headers: tuple[tuple[str, str], ...]
    disabled: bool
    register: bool
    register_contact: str | None
    register_expiry: int
    register_server: str | None
    registration_status: RegistrationStatus
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    incoming_account: str | None = None  # ``user@domain`` that calls through it go to
