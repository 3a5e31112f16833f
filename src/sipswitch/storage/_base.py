"""Shared plumbing of the owner-scoped repositories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVarTuple

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from sipswitch.storage.errors import ConflictError, NotFoundError
from sipswitch.storage.models import Customer
from sipswitch.storage.records import Scope

Ts = TypeVarTuple("Ts")


class ForbiddenError(NotFoundError):
    """The action needs an admin scope. A NotFoundError too, so callers cannot tell them apart."""


class Repository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def _tx(self, conflict: str = "already exists") -> AsyncIterator[AsyncSession]:
        """One transaction; a uniqueness violation becomes ConflictError(conflict)."""
        try:
            async with self._sessions.begin() as session:
                yield session
        except IntegrityError:
            raise ConflictError(conflict) from None


def owned(stmt: Select[*Ts], column: InstrumentedAttribute[int], scope: Scope) -> Select[*Ts]:
    """Restrict a query to the acting customer's rows, unless the scope is an admin's."""
    if scope.admin:
        return stmt
    return stmt.where(column == scope.customer_id)


def require_admin(scope: Scope) -> None:
    if not scope.admin:
        raise ForbiddenError("not found")


async def target_owner(session: AsyncSession, scope: Scope, owner_id: int | None) -> int:
    """The owner a new object gets: the acting customer, or for an admin the one named."""
    if not scope.admin:
        assert scope.customer_id is not None
        if owner_id is not None and owner_id != scope.customer_id:
            raise NotFoundError("customer not found")
        return scope.customer_id
    chosen = owner_id if owner_id is not None else scope.customer_id
    if chosen is None:
        raise ValueError("an admin creating an object must name its owner")
    found = await session.scalar(select(Customer.id).where(Customer.id == chosen))
    if found is None:
        raise NotFoundError("customer not found")
    return chosen
