"""Upstream SIP providers, owner-scoped, with the state of our registration to each."""

from __future__ import annotations

import builtins
import datetime as dt
import json
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sipswitch.storage._base import Repository, owned, target_owner
from sipswitch.storage.accounts import UNSET, Unset
from sipswitch.storage.errors import InvalidValueError, NotFoundError
from sipswitch.storage.models import Provider
from sipswitch.storage.records import ProviderRecord, RegistrationStatus, Scope
from sipswitch.storage.validation import custom_headers, expiry, object_name, text_line


def _record(row: Provider) -> ProviderRecord:
    headers = tuple((str(n), str(v)) for n, v in json.loads(row.custom_headers))
    return ProviderRecord(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        server=row.server,
        username=row.username,
        auth_username=row.auth_username,
        password=row.password,
        outbound_proxy=row.outbound_proxy,
        from_header=row.from_header,
        custom_headers=headers,
        disabled=row.disabled,
        register=row.register,
        register_contact=row.register_contact,
        register_expiry=row.register_expiry,
        register_server=row.register_server,
        registration_status=RegistrationStatus(row.registration_status),
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        incoming_account=row.incoming_account,
    )


def _server(value: str, field: str = "server") -> str:
    """``host``, ``host:port`` or a SIP URI: one word, no line breaks."""
    checked = text_line(value.strip(), field)
    if not checked or any(c.isspace() for c in checked):
        raise InvalidValueError(field, f"expected a host or SIP URI, got {value!r}")
    return checked


def _headers_json(headers: Iterable[tuple[str, str]]) -> str:
    return json.dumps([list(h) for h in custom_headers(headers)])


def _initial_status(register: bool) -> str:
    return str(RegistrationStatus.PENDING if register else RegistrationStatus.IDLE)


class ProviderRepository(Repository):
    async def create(
        self,
        scope: Scope,
        name: str,
        server: str,
        *,
        owner_id: int | None = None,
        username: str | None = None,
        auth_username: str | None = None,
        password: str | None = None,
        outbound_proxy: str | None = None,
        from_header: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        register: bool = False,
        register_contact: str | None = None,
        register_expiry: int = 3600,
        register_server: str | None = None,
        incoming_account: str | None = None,
    ) -> ProviderRecord:
        checked = object_name(name)
        row = Provider(
            name=checked,
            server=_server(server),
            username=text_line(username, "username", 128),
            auth_username=text_line(auth_username, "auth_username", 128),
            password=text_line(password, "password"),
            outbound_proxy=text_line(outbound_proxy, "outbound_proxy"),
            from_header=text_line(from_header, "from_header", 512),
            custom_headers=_headers_json(headers),
            disabled=False,
            register=register,
            register_contact=text_line(register_contact, "register_contact", 512),
            register_expiry=expiry(register_expiry),
            register_server=text_line(register_server, "register_server"),
            registration_status=_initial_status(register),
            incoming_account=text_line(incoming_account, "incoming_account", 200),
        )
        async with self._tx(f"provider {checked!r} exists") as session:
            row.owner_id = await target_owner(session, scope, owner_id)
            session.add(row)
            await session.flush()
            return _record(row)

    async def get(self, scope: Scope, provider_id: int) -> ProviderRecord | None:
        async with self._sessions() as session:
            stmt = owned(select(Provider), Provider.owner_id, scope)
            row = await session.scalar(stmt.where(Provider.id == provider_id))
            return None if row is None else _record(row)

    async def get_by_name(
        self, scope: Scope, name: str, owner_id: int | None = None
    ) -> ProviderRecord | None:
        """The provider a dial string names (``555@name``): the owner's own, by name."""
        owner = scope.customer_id if owner_id is None else owner_id
        if owner is None or (not scope.admin and owner != scope.customer_id):
            return None
        async with self._sessions() as session:
            row = await session.scalar(
                select(Provider).where(Provider.owner_id == owner, Provider.name == name)
            )
            return None if row is None else _record(row)

    async def list(self, scope: Scope, owner_id: int | None = None) -> list[ProviderRecord]:
        async with self._sessions() as session:
            stmt = owned(select(Provider), Provider.owner_id, scope)
            if owner_id is not None:
                stmt = stmt.where(Provider.owner_id == owner_id)
            rows = await session.scalars(stmt.order_by(Provider.owner_id, Provider.name))
            return [_record(r) for r in rows]

    async def list_to_register(self, scope: Scope) -> builtins.list[ProviderRecord]:
        """Providers wanting a registration (the registration agent runs with a system scope)."""
        async with self._sessions() as session:
            stmt = owned(select(Provider), Provider.owner_id, scope).where(
                Provider.register.is_(True), Provider.disabled.is_(False)
            )
            return [_record(r) for r in await session.scalars(stmt.order_by(Provider.id))]

    async def _load(self, session: AsyncSession, scope: Scope, provider_id: int) -> Provider:
        stmt = owned(select(Provider), Provider.owner_id, scope)
        row = await session.scalar(stmt.where(Provider.id == provider_id))
        if row is None:
            raise NotFoundError("provider not found")
        return row

    async def update(
        self,
        scope: Scope,
        provider_id: int,
        *,
        server: str | Unset = UNSET,
        username: str | Unset | None = UNSET,
        auth_username: str | Unset | None = UNSET,
        password: str | Unset | None = UNSET,
        outbound_proxy: str | Unset | None = UNSET,
        from_header: str | Unset | None = UNSET,
        headers: Iterable[tuple[str, str]] | Unset = UNSET,
        disabled: bool | Unset = UNSET,
        register: bool | Unset = UNSET,
        register_contact: str | Unset | None = UNSET,
        register_expiry: int | Unset = UNSET,
        register_server: str | Unset | None = UNSET,
        incoming_account: str | Unset | None = UNSET,
    ) -> ProviderRecord:
        """Change the given settings; a change to registration makes it pending again."""
        async with self._tx() as session:
            row = await self._load(session, scope, provider_id)
            if not isinstance(server, Unset):
                row.server = _server(server)
            for column, value, limit in (
                ("username", username, 128),
                ("auth_username", auth_username, 128),
                ("password", password, 255),
                ("outbound_proxy", outbound_proxy, 255),
                ("from_header", from_header, 512),
                ("register_contact", register_contact, 512),
                ("register_server", register_server, 255),
                ("incoming_account", incoming_account, 200),
            ):
                if not isinstance(value, Unset):
                    setattr(row, column, text_line(value, column, limit))
            if not isinstance(headers, Unset):
                row.custom_headers = _headers_json(headers)
            if not isinstance(disabled, Unset):
                row.disabled = disabled
            if not isinstance(register, Unset):
                row.register = register
            if not isinstance(register_expiry, Unset):
                row.register_expiry = expiry(register_expiry)
            row.registration_status = _initial_status(row.register)
            row.last_error = None
            row.next_attempt_at = None
            await session.flush()
            return _record(row)

    async def set_registration(
        self,
        scope: Scope,
        provider_id: int,
        status: RegistrationStatus,
        *,
        last_error: str | None = None,
        next_attempt_at: dt.datetime | None = None,
    ) -> None:
        """Record the outcome of a registration attempt (the registration agent's call)."""
        async with self._tx() as session:
            row = await self._load(session, scope, provider_id)
            row.registration_status = str(status)
            row.last_error = None if last_error is None else last_error[:1000]
            row.next_attempt_at = next_attempt_at

    async def delete(self, scope: Scope, provider_id: int) -> None:
        async with self._tx() as session:
            row = await self._load(session, scope, provider_id)
            await session.delete(row)
