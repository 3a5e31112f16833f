"""SIP accounts (``username@domain``), owner-scoped. Passwords are kept only as digest HA1."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Row, Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sipswitch.storage._base import Repository, owned, target_owner
from sipswitch.storage.credentials import digest_ha1
from sipswitch.storage.domains import resolve_domain, visible
from sipswitch.storage.errors import InvalidValueError, NotFoundError
from sipswitch.storage.models import Domain, SipAccount
from sipswitch.storage.records import Scope, SipAccountRecord
from sipswitch.storage.validation import ip_acl, object_name, sip_username


class Unset(enum.Enum):
    """Marks an update argument that was not given (None is a value: "clear it")."""

    UNSET = "unset"


UNSET = Unset.UNSET


def _record(row: SipAccount | Row[*tuple[Any, ...]], domain: str) -> SipAccountRecord:
    """The record of an ORM row, or of a plain row of the table's columns."""
    return SipAccountRecord(
        id=row.id,
        owner_id=row.owner_id,
        username=row.username,
        domain=domain,
        ha1_md5=row.ha1_md5,
        ha1_sha256=row.ha1_sha256,
        in_dialplan=row.in_dialplan,
        out_dialplan=row.out_dialplan,
        incoming_only=row.incoming_only,
        disabled=row.disabled,
        admin_disabled=row.admin_disabled,
        nat_keepalive=row.nat_keepalive,
        ip_acl=tuple(row.ip_acl.split()),
        allow_refer=row.allow_refer,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _dialplan(name: str | None, field: str) -> str | None:
    return None if name is None else object_name(name, field)


def _password(password: str) -> str:
    if not 6 <= len(password) <= 128:
        raise InvalidValueError("password", "6 to 128 characters")
    return password


def _joined(scope: Scope) -> Select[SipAccount, str]:
    stmt = select(SipAccount, Domain.name).join(Domain, Domain.id == SipAccount.domain_id)
    return owned(stmt, SipAccount.owner_id, scope)


class SipAccountRepository(Repository):
    async def create(
        self,
        scope: Scope,
        username: str,
        domain: str,
        password: str,
        *,
        owner_id: int | None = None,
        in_dialplan: str | None = None,
        out_dialplan: str | None = None,
        incoming_only: bool = False,
        nat_keepalive: bool = True,
        ip_acl_networks: Iterable[str] = (),
        allow_refer: bool = False,
    ) -> SipAccountRecord:
        """Add ``username@domain`` (domain by name or alias, service-wide or the owner's own)."""
        user = sip_username(username)
        networks = ip_acl(ip_acl_networks)
        async with self._tx(f"SIP account {user}@{domain} exists") as session:
            owner = await target_owner(session, scope, owner_id)
            dom = await resolve_domain(session, domain, visible(Scope.customer(owner)))
            if dom is None:
                raise NotFoundError("domain not found")
            hashes = digest_ha1(user, dom.name, _password(password))
            row = SipAccount(
                owner_id=owner,
                username=user,
                domain_id=dom.id,
                ha1_md5=hashes.md5,
                ha1_sha256=hashes.sha256,
                in_dialplan=_dialplan(in_dialplan, "in_dialplan"),
                out_dialplan=_dialplan(out_dialplan, "out_dialplan"),
                incoming_only=incoming_only,
                disabled=False,
                admin_disabled=False,
                nat_keepalive=nat_keepalive,
                ip_acl=" ".join(networks),
                allow_refer=allow_refer,
            )
            session.add(row)
            await session.flush()
            return _record(row, dom.name)

    async def get(self, scope: Scope, account_id: int) -> SipAccountRecord | None:
        async with self._sessions() as session:
            found = (
                await session.execute(_joined(scope).where(SipAccount.id == account_id))
            ).first()
            return None if found is None else _record(found[0], found[1])

    async def find(self, scope: Scope, username: str, domain: str) -> SipAccountRecord | None:
        """Look up ``username@domain`` (domain by name or alias), as the registrar does."""
        async with self._sessions() as session:
            return await self._find(session, scope, username, domain)

    async def _find(
        self, session: AsyncSession, scope: Scope, username: str, domain: str
    ) -> SipAccountRecord | None:
        try:
            dom = await resolve_domain(session, domain, None)
        except InvalidValueError:
            return None
        if dom is None:
            return None
        stmt = _joined(scope).where(SipAccount.username == username, SipAccount.domain_id == dom.id)
        found = (await session.execute(stmt)).first()
        return None if found is None else _record(found[0], found[1])

    async def list(self, scope: Scope, owner_id: int | None = None) -> list[SipAccountRecord]:
        """The scope's accounts (an admin: all, or one owner's when ``owner_id`` is given)."""
        async with self._sessions() as session:
            stmt = _joined(scope).order_by(Domain.name, SipAccount.username)
            if owner_id is not None:
                stmt = stmt.where(SipAccount.owner_id == owner_id)
            return [_record(found[0], found[1]) for found in (await session.execute(stmt)).all()]

    async def stamp(self, scope: Scope) -> tuple[int, dt.datetime | None, int]:
        """How many accounts, the latest ``updated_at`` and the highest id: any account added,
        changed or removed changes it, so a copy can tell cheaply whether it is current."""
        stmt = select(func.count(), func.max(SipAccount.updated_at), func.max(SipAccount.id))
        async with self._sessions() as session:
            count, latest, highest = (
                await session.execute(owned(stmt, SipAccount.owner_id, scope))
            ).one()
            return int(count), latest, int(highest or 0)

    async def page(
        self,
        scope: Scope,
        *,
        after_id: int = 0,
        changed_since: dt.datetime | None = None,
        limit: int = 2000,
    ) -> Sequence[SipAccountRecord]:
        """Up to ``limit`` accounts with ids above ``after_id``, in id order (only those updated
        at or after ``changed_since``, when given): plain rows, not ORM objects, so a caller
        copying every account reads them in short steps."""
        columns = cast(Table, SipAccount.__table__).c
        stmt = (
            select(*columns, Domain.name.label("domain_name"))
            .join(Domain, Domain.id == SipAccount.domain_id)
            .where(SipAccount.id > after_id)
            .order_by(SipAccount.id)
            .limit(limit)
        )
        if changed_since is not None:
            stmt = stmt.where(SipAccount.updated_at >= changed_since)
        async with self._sessions() as session:
            rows = (await session.execute(owned(stmt, SipAccount.owner_id, scope))).all()
            return [_record(row, row.domain_name) for row in rows]

    async def _load(self, session: AsyncSession, scope: Scope, account_id: int) -> SipAccount:
        row = await session.scalar(
            owned(select(SipAccount), SipAccount.owner_id, scope).where(SipAccount.id == account_id)
        )
        if row is None:
            raise NotFoundError("SIP account not found")
        return row

    async def set_password(self, scope: Scope, account_id: int, password: str) -> None:
        async with self._tx() as session:
            row = await self._load(session, scope, account_id)
            realm = await session.scalar(select(Domain.name).where(Domain.id == row.domain_id))
            assert realm is not None
            hashes = digest_ha1(row.username, realm, _password(password))
            row.ha1_md5, row.ha1_sha256 = hashes.md5, hashes.sha256

    async def update(
        self,
        scope: Scope,
        account_id: int,
        *,
        in_dialplan: str | Unset | None = UNSET,
        out_dialplan: str | Unset | None = UNSET,
        incoming_only: bool | Unset = UNSET,
        disabled: bool | Unset = UNSET,
        nat_keepalive: bool | Unset = UNSET,
        ip_acl_networks: Iterable[str] | Unset = UNSET,
        allow_refer: bool | Unset = UNSET,
    ) -> SipAccountRecord:
        """Change the given settings; arguments left out keep their value."""
        async with self._tx() as session:
            row = await self._load(session, scope, account_id)
            if not isinstance(in_dialplan, Unset):
                row.in_dialplan = _dialplan(in_dialplan, "in_dialplan")
            if not isinstance(out_dialplan, Unset):
                row.out_dialplan = _dialplan(out_dialplan, "out_dialplan")
            if not isinstance(incoming_only, Unset):
                row.incoming_only = incoming_only
            if not isinstance(disabled, Unset):
                row.disabled = disabled
            if not isinstance(nat_keepalive, Unset):
                row.nat_keepalive = nat_keepalive
            if not isinstance(ip_acl_networks, Unset):
                row.ip_acl = " ".join(ip_acl(ip_acl_networks))
            if not isinstance(allow_refer, Unset):
                row.allow_refer = allow_refer
            await session.flush()
            realm = await session.scalar(select(Domain.name).where(Domain.id == row.domain_id))
            assert realm is not None
            return _record(row, realm)

    async def set_admin_disabled(self, scope: Scope, account_id: int, disabled: bool) -> None:
        """The operator's switch, which the owner cannot undo."""
        if not scope.admin:
            raise NotFoundError("SIP account not found")
        async with self._tx() as session:
            row = await self._load(session, scope, account_id)
            row.admin_disabled = disabled

    async def delete(self, scope: Scope, account_id: int) -> None:
        async with self._tx() as session:
            row = await self._load(session, scope, account_id)
            await session.delete(row)
