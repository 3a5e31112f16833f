"""Customers: the login users of the service. Only admins create or list them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sipswitch.storage._base import Repository, owned, require_admin
from sipswitch.storage.credentials import LoginHasher
from sipswitch.storage.errors import InvalidValueError, NotFoundError
from sipswitch.storage.models import Customer
from sipswitch.storage.records import CustomerRecord, Scope
from sipswitch.storage.validation import login_name, text_line


def _record(row: Customer) -> CustomerRecord:
    return CustomerRecord(
        id=row.id,
        username=row.username,
        email=row.email,
        is_admin=row.is_admin,
        disabled=row.disabled,
        timezone=row.timezone,
        created_at=row.created_at,
    )


def _password(password: str) -> str:
    if len(password) < 8:
        raise InvalidValueError("password", "at least 8 characters")
    return password


class CustomerRepository(Repository):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], hasher: LoginHasher) -> None:
        super().__init__(sessions)
        self._hasher = hasher

    async def create(
        self,
        scope: Scope,
        username: str,
        password: str,
        *,
        is_admin: bool = False,
        email: str | None = None,
        timezone: str = "UTC",
    ) -> CustomerRecord:
        require_admin(scope)
        name = login_name(username)
        row = Customer(
            username=name,
            password_hash=self._hasher.hash(_password(password)),
            is_admin=is_admin,
            email=text_line(email, "email", 254),
            disabled=False,
            timezone=text_line(timezone, "timezone", 64) or "UTC",
        )
        async with self._tx(f"customer {name!r} exists") as session:
            session.add(row)
            await session.flush()
            return _record(row)

    async def get(self, scope: Scope, customer_id: int) -> CustomerRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(
                owned(select(Customer), Customer.id, scope).where(Customer.id == customer_id)
            )
            return None if row is None else _record(row)

    async def get_by_username(self, scope: Scope, username: str) -> CustomerRecord | None:
        async with self._sessions() as session:
            stmt = owned(select(Customer), Customer.id, scope)
            row = await session.scalar(stmt.where(Customer.username == username.strip().lower()))
            return None if row is None else _record(row)

    async def list(self, scope: Scope) -> list[CustomerRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(
                owned(select(Customer), Customer.id, scope).order_by(Customer.id)
            )
            return [_record(r) for r in rows]

    async def count(self) -> int:
        """How many customers exist (``init`` uses it to know it has already run)."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(Customer.id))) or 0)

    async def set_password(self, scope: Scope, customer_id: int, password: str) -> None:
        digest = self._hasher.hash(_password(password))
        async with self._tx() as session:
            row = await session.scalar(
                owned(select(Customer), Customer.id, scope).where(Customer.id == customer_id)
            )
            if row is None:
                raise NotFoundError("customer not found")
            row.password_hash = digest

    async def set_disabled(self, scope: Scope, customer_id: int, disabled: bool) -> None:
        require_admin(scope)
        async with self._tx() as session:
            row = await session.get(Customer, customer_id)
            if row is None:
                raise NotFoundError("customer not found")
            row.disabled = disabled

    async def delete(self, scope: Scope, customer_id: int) -> None:
        """Remove a customer and everything it owns (admins only)."""
        require_admin(scope)
        async with self._tx() as session:
            row = await session.get(Customer, customer_id)
            if row is None:
                raise NotFoundError("customer not found")
            await session.delete(row)

    async def authenticate(self, username: str, password: str) -> CustomerRecord | None:
        """The customer these credentials log in, or None; unknown names cost the same time."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(Customer).where(Customer.username == username.strip().lower())
            )
            stored = None if row is None else row.password_hash
            if not self._hasher.verify(stored, password) or row is None or row.disabled:
                return None
            if self._hasher.needs_rehash(row.password_hash):
                row.password_hash = self._hasher.hash(password)
                await session.commit()
            return _record(row)
