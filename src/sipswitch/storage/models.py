"""SQLAlchemy 2 typed declarative models. Only the storage package sees these."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    """A login user of the service (owner of domains, SIP accounts, providers, dialplans)."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Domain(Base):
    """A SIP domain served here; ``owner_id`` NULL means service-wide (open to every customer)."""

    __tablename__ = "domains"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DomainAlias(Base):
    """Another name for a domain (``local`` for the service domain in dial strings)."""

    __tablename__ = "domain_aliases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(253), unique=True)


class SipAccount(Base):
    """A SIP identity ``username@domain``; the password is kept only as digest HA1 values."""

    __tablename__ = "sip_accounts"
    __table_args__ = (UniqueConstraint("username", "domain_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(64))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="RESTRICT"))
    ha1_md5: Mapped[str] = mapped_column(String(32))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    in_dialplan: Mapped[str | None] = mapped_column(String(64))
    out_dialplan: Mapped[str | None] = mapped_column(String(64))
    incoming_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # REFER from this account's own (digest-authenticated) phone is carried out; off by default.
    allow_refer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    nat_keepalive: Mapped[bool] = mapped_column(Boolean, default=True)
    ip_acl: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # indexed: the registrar's copy of the accounts reads only what changed since it last looked
    updated_at: Mapped[dt.datetime] = mapped_column(
        UtcDateTime, default=utcnow, onupdate=utcnow, index=True
    )


class Provider(Base):
    """An upstream SIP service the owner dials out through (and may register to)."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    server: Mapped[str] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(128))
    auth_username: Mapped[str | None] = mapped_column(String(128))
    # Kept usable: we authenticate to the provider with it. Never logged, never listed.
    password: Mapped[str | None] = mapped_column(String(255))
    outbound_proxy: Mapped[str | None] = mapped_column(String(255))
    from_header: Mapped[str | None] = mapped_column(String(512))
    custom_headers: Mapped[str] = mapped_column(Text, default="[]")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    register: Mapped[bool] = mapped_column(Boolean, default=False)
    register_contact: Mapped[str | None] = mapped_column(String(512))
    register_expiry: Mapped[int] = mapped_column(Integer, default=3600)
    register_server: Mapped[str | None] = mapped_column(String(255))
    # ``user@domain`` of the owner's account that calls arriving through this provider go to.
    incoming_account: Mapped[str | None] = mapped_column(String(200))
    registration_status: Mapped[str] = mapped_column(String(16), default="idle")
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class KvEntry(Base):
    """Per-owner key/value storage for dialplans (``sys.DBWrite``/``DBRead``)."""

    __tablename__ = "kv"
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Binding(Base):
    """A registered contact of a SIP account (RFC 3261 §10.3) with the address it really came
    from (NAT). Written behind the in-memory location service; read back at start."""

    __tablename__ = "bindings"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("sip_accounts.id", ondelete="CASCADE"), index=True
    )
    aor: Mapped[str] = mapped_column(String(320), index=True)
    contact: Mapped[str] = mapped_column(Text)
    uri: Mapped[str] = mapped_column(Text)
    q: Mapped[float | None] = mapped_column(Float)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    call_id: Mapped[str] = mapped_column(String(255))
    cseq: Mapped[int] = mapped_column(Integer)
    source_ip: Mapped[str] = mapped_column(String(45))
    source_port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8))
    local: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(255))
    instance: Mapped[str | None] = mapped_column(String(255))
    reg_id: Mapped[int | None] = mapped_column(Integer)
    keepalive: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class SecurityBan(Base):
    """A source address or account refused for a while (brute force, flooding)."""

    __tablename__ = "security_bans"
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(255))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    until: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CallRecord(Base):
    """One leg of a call, written when the leg ends (see ``services/calls/cdr.py``)."""

    __tablename__ = "cdrs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    direction: Mapped[str] = mapped_column(String(3))
    call_id: Mapped[str] = mapped_column(String(255), index=True)
    bridge_id: Mapped[str | None] = mapped_column(String(32), index=True)
    execution_id: Mapped[str | None] = mapped_column(String(64))
    from_user: Mapped[str | None] = mapped_column(String(255))
    from_name: Mapped[str | None] = mapped_column(String(255))
    from_header: Mapped[str] = mapped_column(Text)
    dst_user: Mapped[str | None] = mapped_column(String(255))
    dst_host: Mapped[str] = mapped_column(String(255))
    dst_uri: Mapped[str] = mapped_column(Text)
    local_socket: Mapped[str] = mapped_column(String(64))
    remote_socket: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    progress_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    progress_status: Mapped[int | None] = mapped_column(Integer)
    progress_reason: Mapped[str | None] = mapped_column(String(255))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    answered_status: Mapped[int | None] = mapped_column(Integer)
    answered_reason: Mapped[str | None] = mapped_column(String(255))
    hungup_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    hungup_reason: Mapped[str | None] = mapped_column(String(255))
    ring_duration: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[float | None] = mapped_column(Float)
    referred_by: Mapped[str | None] = mapped_column(Text)


class Dialplan(Base):
    """A named dialplan of an owner (a script or a rule document); its text lives in versions."""

    __tablename__ = "dialplans"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DialplanVersion(Base):
    """One saved text of a dialplan; versions count up from 1 and the oldest are pruned."""

    __tablename__ = "dialplan_versions"
    dialplan_id: Mapped[int] = mapped_column(
        ForeignKey("dialplans.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    author: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
