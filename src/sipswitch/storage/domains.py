"""SIP domains and their aliases. Service-wide domains (no owner) are open to every customer."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sipswitch.storage._base import Repository, require_admin, target_owner
from sipswitch.storage.errors import ConflictError, NotFoundError
from sipswitch.storage.models import Domain, DomainAlias
from sipswitch.storage.records import DomainRecord, Scope
from sipswitch.storage.validation import domain_name

LOCAL_ALIAS = "local"


def visible(scope: Scope) -> ColumnElement[bool] | None:
    """Domains a scope may use: service-wide ones and its own (admins: all)."""
    if scope.admin:
        return None
    return or_(Domain.owner_id.is_(None), Domain.owner_id == scope.customer_id)


def modifiable(scope: Scope) -> ColumnElement[bool] | None:
    """Domains a scope may change: its own (admins: all)."""
    return None if scope.admin else Domain.owner_id == scope.customer_id


async def resolve_domain(
    session: AsyncSession, name: str, where: ColumnElement[bool] | None
) -> Domain | None:
    """The domain called ``name`` directly or through an alias, if ``where`` allows it."""
    wanted = domain_name(name)
    alias_of = select(DomainAlias.domain_id).where(DomainAlias.alias == wanted)
    stmt = select(Domain).where(or_(Domain.name == wanted, Domain.id.in_(alias_of)))
    if where is not None:
        stmt = stmt.where(where)
    return await session.scalar(stmt)


async def _record(session: AsyncSession, row: Domain) -> DomainRecord:
    aliases = await session.scalars(
        select(DomainAlias.alias).where(DomainAlias.domain_id == row.id).order_by(DomainAlias.alias)
    )
    return DomainRecord(row.id, row.name, row.owner_id, tuple(aliases))


async def _name_taken(session: AsyncSession, name: str) -> bool:
    as_name = await session.scalar(select(Domain.id).where(Domain.name == name))
    as_alias = await session.scalar(select(DomainAlias.id).where(DomainAlias.alias == name))
    return as_name is not None or as_alias is not None


class DomainRepository(Repository):
    async def create(
        self,
        scope: Scope,
        name: str,
        aliases: Iterable[str] = (),
        *,
        service_wide: bool = False,
        owner_id: int | None = None,
    ) -> DomainRecord:
        """Add a domain; ``service_wide`` (admins only) makes it usable by every customer."""
        canonical = domain_name(name)
        wanted = [domain_name(a, "aliases") for a in aliases]
        async with self._tx(f"domain {canonical!r} exists") as session:
            if service_wide:
                require_admin(scope)
                owner: int | None = None
            else:
                owner = await target_owner(session, scope, owner_id)
            for candidate in (canonical, *wanted):
                if await _name_taken(session, candidate):
                    raise ConflictError(f"domain name {candidate!r} is taken")
            row = Domain(name=canonical, owner_id=owner)
            session.add(row)
            await session.flush()
            session.add_all(DomainAlias(domain_id=row.id, alias=a) for a in dict.fromkeys(wanted))
            await session.flush()
            return await _record(session, row)

    async def resolve(self, scope: Scope, name: str) -> DomainRecord | None:
        """The domain known by ``name`` or by one of its aliases, if the scope may use it."""
        async with self._sessions() as session:
            row = await resolve_domain(session, name, visible(scope))
            return None if row is None else await _record(session, row)

    async def list(self, scope: Scope) -> list[DomainRecord]:
        async with self._sessions() as session:
            stmt = select(Domain).order_by(Domain.name)
            where = visible(scope)
            if where is not None:
                stmt = stmt.where(where)
            return [await _record(session, row) for row in await session.scalars(stmt)]

    async def add_alias(self, scope: Scope, domain: str, alias: str) -> DomainRecord:
        wanted = domain_name(alias, "alias")
        async with self._tx(f"domain name {wanted!r} is taken") as session:
            row = await resolve_domain(session, domain, modifiable(scope))
            if row is None:
                raise NotFoundError("domain not found")
            if await _name_taken(session, wanted):
                raise ConflictError(f"domain name {wanted!r} is taken")
            session.add(DomainAlias(domain_id=row.id, alias=wanted))
            await session.flush()
            return await _record(session, row)

    async def delete(self, scope: Scope, domain: str) -> None:
        """Remove a domain that no SIP account uses any more."""
        async with self._tx("domain still has SIP accounts") as session:
            row = await resolve_domain(session, domain, modifiable(scope))
            if row is None:
                raise NotFoundError("domain not found")
            await session.delete(row)
