"""Registrar bindings and security bans at rest.

The location service keeps bindings in memory and writes changes behind in batches
(:meth:`BindingRepository.apply`); at start it reads them all back (:meth:`load_all`). Times are
wall-clock epoch seconds in the records and UTC datetimes in the tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select

from sipswitch.storage._base import Repository
from sipswitch.storage.models import Binding, SecurityBan, SipAccount
from sipswitch.transport.base import Target

#: rows per statement when writing a batch (SQLite's bound-parameter limit stays far away)
_CHUNK = 500


def _when(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _epoch(when: dt.datetime) -> float:
    return when.timestamp()


@dataclass(frozen=True, slots=True)
class BindingRecord:
    """One contact bound to an address-of-record (RFC 3261 §10.3), NAT-aware.

    ``contact`` is the Contact as the phone sent it (without ``expires``); ``uri`` its URI, the
    Request-URI for requests to the binding. ``source_ip``/``source_port``/``transport`` are
    where the REGISTER really came from: requests go there (:attr:`target`), over the same
    connection while it is open. ``expires_at``, ``created_at``, ``updated_at`` are epoch seconds.
    """

    id: str
    aor: str
    account_id: int
    owner_id: int
    contact: str
    uri: str
    q: float | None
    expires_at: float
    call_id: str
    cseq: int
    source_ip: str
    source_port: int
    transport: str
    local: str
    user_agent: str
    instance: str | None
    reg_id: int | None
    keepalive: bool
    created_at: float
    updated_at: float

    @property
    def target(self) -> Target:
        """Where to send requests for this binding (the real source, RFC 3261 §18.2.2 style)."""
        return Target(self.transport, self.source_ip, self.source_port)

    @property
    def source(self) -> str:
        host = f"[{self.source_ip}]" if ":" in self.source_ip else self.source_ip
        return f"{self.transport}:{host}:{self.source_port}"

    def remaining(self, now: float) -> int:
        """Whole seconds left before expiry (0 when expired)."""
        return max(int(self.expires_at - now + 0.5), 0)

    def __reduce__(self) -> tuple[type[BindingRecord], tuple[Any, ...]]:
        """Pickled as its constructor's arguments (bindings are copied to every worker):
        half the work of the dataclass default, which walks ``fields()`` both ways."""
        return BindingRecord, (
            self.id, self.aor, self.account_id, self.owner_id, self.contact, self.uri, self.q,
            self.expires_at, self.call_id, self.cseq, self.source_ip, self.source_port,
            self.transport, self.local, self.user_agent, self.instance, self.reg_id,
            self.keepalive, self.created_at, self.updated_at,
        )  # fmt: skip


def _row(record: BindingRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "account_id": record.account_id,
        "aor": record.aor,
        "contact": record.contact,
        "uri": record.uri,
        "q": record.q,
        "expires_at": _when(record.expires_at),
        "call_id": record.call_id[:255],
        "cseq": record.cseq,
        "source_ip": record.source_ip,
        "source_port": record.source_port,
        "transport": record.transport,
        "local": record.local[:64],
        "user_agent": record.user_agent[:255],
        "instance": record.instance[:255] if record.instance else None,
        "reg_id": record.reg_id,
        "keepalive": record.keepalive,
        "created_at": _when(record.created_at),
        "updated_at": _when(record.updated_at),
    }


def _record(row: Binding, owner_id: int) -> BindingRecord:
    return BindingRecord(
        id=row.id,
        aor=row.aor,
        account_id=row.account_id,
        owner_id=owner_id,
        contact=row.contact,
        uri=row.uri,
        q=row.q,
        expires_at=_epoch(row.expires_at),
        call_id=row.call_id,
        cseq=row.cseq,
        source_ip=row.source_ip,
        source_port=row.source_port,
        transport=row.transport,
        local=row.local,
        user_agent=row.user_agent,
        instance=row.instance,
        reg_id=row.reg_id,
        keepalive=row.keepalive,
        created_at=_epoch(row.created_at),
        updated_at=_epoch(row.updated_at),
    )


class BindingRepository(Repository):
    """Bindings are system data (the registrar's), so these calls take no scope; the owner of
    each binding is its SIP account's owner."""

    async def load_all(self) -> list[BindingRecord]:
        async with self._sessions() as session:
            stmt = select(Binding, SipAccount.owner_id).join(
                SipAccount, SipAccount.id == Binding.account_id
            )
            return [_record(row, owner) for row, owner in (await session.execute(stmt)).all()]

    async def for_aor(self, aor: str) -> list[BindingRecord]:
        async with self._sessions() as session:
            stmt = (
                select(Binding, SipAccount.owner_id)
                .join(SipAccount, SipAccount.id == Binding.account_id)
                .where(Binding.aor == aor)
                .order_by(Binding.created_at)
            )
            return [_record(row, owner) for row, owner in (await session.execute(stmt)).all()]

    async def apply(self, changes: Mapping[str, BindingRecord | None]) -> None:
        """Write a batch in one transaction: ``id -> record`` upserts, ``id -> None`` deletes."""
        if not changes:
            return
        ids = list(changes)
        rows = [_row(r) for r in changes.values() if r is not None]
        # Core statements on the table: the ORM's bulk machinery costs far more per row
        table = cast(Table, Binding.__table__)
        async with self._tx() as session:
            conn = await session.connection()
            for start in range(0, len(ids), _CHUNK):
                await conn.execute(delete(table).where(table.c.id.in_(ids[start : start + _CHUNK])))
            for start in range(0, len(rows), _CHUNK):
                await conn.execute(insert(table), rows[start : start + _CHUNK])

    async def delete_expired(self, now: float) -> int:
        async with self._tx() as session:
            result = await session.execute(delete(Binding).where(Binding.expires_at <= _when(now)))
            return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class BanRecord:
    """A ban: ``key`` is ``source:<ip>`` or ``account:<user@domain>``; times are epoch seconds."""

    key: str
    kind: str
    reason: str
    failures: int
    created_at: float
    until: float


class BanRepository(Repository):
    async def list(self) -> list[BanRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(select(SecurityBan).order_by(SecurityBan.created_at))
            return [
                BanRecord(
                    r.key, r.kind, r.reason, r.failures, _epoch(r.created_at), _epoch(r.until)
                )
                for r in rows
            ]

    async def save(self, bans: Iterable[BanRecord]) -> None:
        items = list(bans)
        if not items:
            return
        async with self._tx() as session:
            await session.execute(
                delete(SecurityBan).where(SecurityBan.key.in_([b.key for b in items]))
            )
            await session.execute(
                insert(SecurityBan),
                [
                    {
                        "key": b.key,
                        "kind": b.kind,
                        "reason": b.reason[:255],
                        "failures": b.failures,
                        "created_at": _when(b.created_at),
                        "until": _when(b.until),
                    }
                    for b in items
                ],
            )

    async def delete(self, keys: Iterable[str]) -> int:
        wanted = list(keys)
        if not wanted:
            return 0
        async with self._tx() as session:
            result = await session.execute(delete(SecurityBan).where(SecurityBan.key.in_(wanted)))
            return int(getattr(result, "rowcount", 0) or 0)
