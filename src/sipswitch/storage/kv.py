"""Per-owner key/value storage for dialplans (``sys.DBWrite``, ``DBRead``, ``DBGetKeys``)."""

from __future__ import annotations

from sqlalchemy import delete, select

from sipswitch.storage._base import Repository, target_owner
from sipswitch.storage.models import KvEntry, utcnow
from sipswitch.storage.records import Scope
from sipswitch.storage.validation import kv_key, kv_value


class KvRepository(Repository):
    """Keys live in the owner's own namespace: a customer never sees another's keys.

    An admin scope reaches one owner's namespace by naming ``owner_id``.
    """

    async def get(self, scope: Scope, key: str, owner_id: int | None = None) -> str | None:
        async with self._sessions() as session:
            owner = await target_owner(session, scope, owner_id)
            return await session.scalar(
                select(KvEntry.value).where(KvEntry.owner_id == owner, KvEntry.key == key)
            )

    async def put(self, scope: Scope, key: str, value: str, owner_id: int | None = None) -> None:
        checked_key, checked_value = kv_key(key), kv_value(value)
        async with self._tx() as session:
            owner = await target_owner(session, scope, owner_id)
            row = await session.get(KvEntry, (owner, checked_key))
            if row is None:
                session.add(KvEntry(owner_id=owner, key=checked_key, value=checked_value))
            else:
                row.value = checked_value
                row.updated_at = utcnow()

    async def delete(self, scope: Scope, key: str, owner_id: int | None = None) -> bool:
        """Remove a key; True if it existed."""
        async with self._tx() as session:
            owner = await target_owner(session, scope, owner_id)
            result = await session.execute(
                delete(KvEntry).where(KvEntry.owner_id == owner, KvEntry.key == key)
            )
            return bool(getattr(result, "rowcount", 0))

    async def keys(self, scope: Scope, owner_id: int | None = None) -> list[str]:
        async with self._sessions() as session:
            owner = await target_owner(session, scope, owner_id)
            rows = await session.scalars(
                select(KvEntry.key).where(KvEntry.owner_id == owner).order_by(KvEntry.key)
            )
            return list(rows)
