"""Dialplans (named scripts and rule documents), owner-scoped and versioned.

Each save adds a version (1, 2, ...); the dialplan row points at the current one. A rollback
saves an old text again as a new version, so history only grows; the oldest versions beyond
:data:`MAX_VERSIONS` are pruned. Storage checks names, kinds and sizes only: whether a script
compiles or a rule document is valid is the service layer's question
(``sipswitch.services.dialplan.manage``), asked before saving.
"""

from __future__ import annotations

import builtins
import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sipswitch.storage._base import Repository, owned, target_owner
from sipswitch.storage.errors import InvalidValueError, NotFoundError
from sipswitch.storage.models import Dialplan, DialplanVersion, utcnow
from sipswitch.storage.records import Scope
from sipswitch.storage.validation import object_name, text_line

MAX_VERSIONS = 50
"""Versions kept per dialplan; saving one more prunes the oldest."""

TRANSFER = "transfer"
"""The dialplan run for server-side blind transfers."""
WEBCALLBACK = "webcallback"
"""The dialplan run for web callbacks."""


class DialplanKind(enum.StrEnum):
    SCRIPT = "script"  # sandboxed Python
    RULES = "rules"  # a JSON rule document (services.dialplan.rules)


SOURCE_LIMITS = {DialplanKind.SCRIPT: 64 * 1024, DialplanKind.RULES: 256 * 1024}
"""Largest text, in UTF-8 bytes, stored for each kind."""

DialplanRef = int | str
"""A dialplan by id, or by name within an owner (``owner_id``, else the acting customer)."""


@dataclass(frozen=True, slots=True)
class DialplanRecord:
    """One version of a dialplan (the current one unless a version was asked for)."""

    id: int
    owner_id: int
    name: str
    kind: DialplanKind
    version: int
    current_version: int
    source: str
    author: str | None
    created_at: dt.datetime  # the dialplan's creation
    updated_at: dt.datetime  # when this version was saved

    @property
    def is_current(self) -> bool:
        return self.version == self.current_version


@dataclass(frozen=True, slots=True)
class DialplanVersionInfo:
    """A line of a dialplan's history (no text: ask :meth:`DialplanRepository.version`)."""

    version: int
    size: int  # UTF-8 bytes
    author: str | None
    created_at: dt.datetime
    current: bool


def _kind(value: str) -> DialplanKind:
    try:
        return DialplanKind(value)
    except ValueError:
        raise InvalidValueError("kind", f"'script' or 'rules', got {value!r}") from None


def _source(kind: DialplanKind, source: str) -> tuple[str, int]:
    """The text to store and its size; refuses what no database column should hold."""
    if "\x00" in source:
        raise InvalidValueError("source", "contains a NUL character")
    try:
        size = len(source.encode())
    except UnicodeEncodeError:
        raise InvalidValueError("source", "not valid Unicode text") from None
    limit = SOURCE_LIMITS[kind]
    if size > limit:
        raise InvalidValueError("source", f"{size} bytes; a {kind} dialplan holds {limit}")
    return source, size


def _record(row: Dialplan, text: DialplanVersion) -> DialplanRecord:
    return DialplanRecord(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        kind=DialplanKind(row.kind),
        version=text.version,
        current_version=row.current_version,
        source=text.source,
        author=text.author,
        created_at=row.created_at,
        updated_at=text.created_at,
    )


def _with_current(scope: Scope) -> Select[Dialplan, DialplanVersion]:
    stmt = select(Dialplan, DialplanVersion).join(
        DialplanVersion,
        (DialplanVersion.dialplan_id == Dialplan.id)
        & (DialplanVersion.version == Dialplan.current_version),
    )
    return owned(stmt, Dialplan.owner_id, scope)


class DialplanRepository(Repository):
    """Owner-scoped dialplans: someone else's dialplan looks exactly like a missing one."""

    async def create(
        self,
        scope: Scope,
        owner_id: int | None,
        name: str,
        kind: DialplanKind | str,
        source: str,
        *,
        author: str | None = None,
    ) -> DialplanRecord:
        """Add a dialplan with its first version (``owner_id`` None: the acting customer)."""
        checked = object_name(name)
        checked_kind = _kind(kind)
        text, size = _source(checked_kind, source)
        who = text_line(author, "author", 64)
        async with self._tx(f"dialplan {checked!r} exists") as session:
            owner = await target_owner(session, scope, owner_id)
            now = utcnow()
            row = Dialplan(
                owner_id=owner,
                name=checked,
                kind=str(checked_kind),
                current_version=1,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            first = DialplanVersion(
                dialplan_id=row.id, version=1, source=text, size=size, author=who, created_at=now
            )
            session.add(first)
            await session.flush()
            return _record(row, first)

    async def get(self, scope: Scope, owner_id: int | None, name: str) -> DialplanRecord | None:
        """The current version of the owner's dialplan ``name`` (the call path's lookup)."""
        owner = owner_id if owner_id is not None else scope.customer_id
        if owner is None:
            return None
        async with self._sessions() as session:
            stmt = _with_current(scope).where(Dialplan.owner_id == owner, Dialplan.name == name)
            found = (await session.execute(stmt)).first()
            return None if found is None else _record(found[0], found[1])

    async def get_by_id(self, scope: Scope, dialplan_id: int) -> DialplanRecord | None:
        async with self._sessions() as session:
            found = (
                await session.execute(_with_current(scope).where(Dialplan.id == dialplan_id))
            ).first()
            return None if found is None else _record(found[0], found[1])

    async def list(self, scope: Scope, owner_id: int | None = None) -> list[DialplanRecord]:
        """Current versions of the scope's dialplans (an admin: all, or one owner's)."""
        async with self._sessions() as session:
            stmt = _with_current(scope).order_by(Dialplan.owner_id, Dialplan.name)
            if owner_id is not None:
                stmt = stmt.where(Dialplan.owner_id == owner_id)
            return [_record(found[0], found[1]) for found in (await session.execute(stmt)).all()]

    async def update(
        self,
        scope: Scope,
        dialplan: DialplanRef,
        source: str,
        *,
        owner_id: int | None = None,
        author: str | None = None,
    ) -> DialplanRecord:
        """Save ``source`` as the new current version (unchanged text: nothing is added)."""
        async with self._tx() as session:
            row = await self._load(session, scope, dialplan, owner_id)
            return await self._save(session, row, source, author)

    async def rollback(
        self,
        scope: Scope,
        dialplan: DialplanRef,
        to_version: int,
        *,
        owner_id: int | None = None,
        author: str | None = None,
    ) -> DialplanRecord:
        """Make an earlier version current again, saved as a new version (history is kept)."""
        async with self._tx() as session:
            row = await self._load(session, scope, dialplan, owner_id)
            old = await session.get(DialplanVersion, (row.id, to_version))
            if old is None:
                raise NotFoundError(f"dialplan {row.name} has no version {to_version}")
            return await self._save(session, row, old.source, author)

    async def version(
        self, scope: Scope, dialplan: DialplanRef, version: int, *, owner_id: int | None = None
    ) -> DialplanRecord:
        """One stored version (NotFoundError when it never existed or was pruned)."""
        async with self._sessions() as session:
            row = await self._load(session, scope, dialplan, owner_id, lock=False)
            text = await session.get(DialplanVersion, (row.id, version))
            if text is None:
                raise NotFoundError(f"dialplan {row.name} has no version {version}")
            return _record(row, text)

    async def history(
        self, scope: Scope, dialplan: DialplanRef, *, owner_id: int | None = None
    ) -> builtins.list[DialplanVersionInfo]:
        """The kept versions, newest first."""
        async with self._sessions() as session:
            row = await self._load(session, scope, dialplan, owner_id, lock=False)
            stmt = (
                select(
                    DialplanVersion.version,
                    DialplanVersion.size,
                    DialplanVersion.author,
                    DialplanVersion.created_at,
                )
                .where(DialplanVersion.dialplan_id == row.id)
                .order_by(DialplanVersion.version.desc())
            )
            return [
                DialplanVersionInfo(v, size, who, at, v == row.current_version)
                for v, size, who, at in (await session.execute(stmt)).all()
            ]

    async def delete(
        self, scope: Scope, dialplan: DialplanRef, *, owner_id: int | None = None
    ) -> None:
        """Remove a dialplan and all its versions."""
        async with self._tx() as session:
            row = await self._load(session, scope, dialplan, owner_id)
            await session.execute(
                delete(DialplanVersion).where(DialplanVersion.dialplan_id == row.id)
            )
            await session.delete(row)

    async def _load(
        self,
        session: AsyncSession,
        scope: Scope,
        dialplan: DialplanRef,
        owner_id: int | None,
        *,
        lock: bool = True,
    ) -> Dialplan:
        """The visible dialplan, row-locked for a change (PostgreSQL; SQLite locks the file)."""
        stmt = owned(select(Dialplan), Dialplan.owner_id, scope)
        if isinstance(dialplan, int):
            stmt = stmt.where(Dialplan.id == dialplan)
            if owner_id is not None:
                stmt = stmt.where(Dialplan.owner_id == owner_id)
        else:
            owner = owner_id if owner_id is not None else scope.customer_id
            if owner is None:
                raise ValueError("a dialplan named without its owner")
            stmt = stmt.where(Dialplan.owner_id == owner, Dialplan.name == dialplan)
        if lock:
            stmt = stmt.with_for_update()
        row = await session.scalar(stmt)
        if row is None:
            raise NotFoundError("dialplan not found")
        return row

    async def _save(
        self, session: AsyncSession, row: Dialplan, source: str, author: str | None
    ) -> DialplanRecord:
        text, size = _source(DialplanKind(row.kind), source)
        who = text_line(author, "author", 64)
        current = await session.get(DialplanVersion, (row.id, row.current_version))
        assert current is not None
        if current.source == text:
            return _record(row, current)
        now = utcnow()
        number = row.current_version + 1
        added = DialplanVersion(
            dialplan_id=row.id, version=number, source=text, size=size, author=who, created_at=now
        )
        session.add(added)
        row.current_version = number
        row.updated_at = now
        await session.flush()
        await session.execute(
            delete(DialplanVersion).where(
                DialplanVersion.dialplan_id == row.id,
                DialplanVersion.version <= number - MAX_VERSIONS,
            )
        )
        return _record(row, added)
