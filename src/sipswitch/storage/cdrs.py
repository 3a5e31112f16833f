"""Call detail records: one row per leg, written when the leg ends; read back per owner."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import cast

from sqlalchemy import Table, insert, select

from sipswitch.storage._base import Repository
from sipswitch.storage.models import CallRecord
from sipswitch.storage.records import Scope


@dataclass(frozen=True, slots=True)
class CallDetailRecord:
    """One leg of a call. Times are wall-clock epoch seconds; durations in seconds."""

    leg_id: str
    owner: int | None
    direction: str  # "in" (a leg the switch answered) or "out" (a leg the switch placed)
    call_id: str
    bridge_id: str | None
    execution_id: str | None
    from_user: str | None
    from_name: str | None
    from_header: str
    dst_user: str | None
    dst_host: str
    dst_uri: str
    local_socket: str
    remote_socket: str
    created: float
    progress_time: float | None = None
    progress_status: int | None = None
    progress_reason: str | None = None
    answered_time: float | None = None
    answered_status: int | None = None
    answered_reason: str | None = None
    hungup_time: float | None = None
    hungup_reason: str | None = None
    referred_by: str | None = None  # a leg placed for a transfer: the Referred-By (RFC 3892)

    @property
    def ring_duration(self) -> float | None:
        """From creation until the answer (or the failure)."""
        end = self.answered_time
        return None if end is None else round(end - self.created, 3)

    @property
    def duration(self) -> float | None:
        """Answered time until hang-up, for answered legs."""
        if self.answered_time is None or self.hungup_time is None:
            return None
        if self.answered_status is None or not 200 <= self.answered_status < 300:
            return None
        return round(self.hungup_time - self.answered_time, 3)


def _at(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


def _epoch(when: dt.datetime | None) -> float | None:
    return None if when is None else when.timestamp()


_TIMES = {
    "created": "created_at",
    "progress_time": "progress_at",
    "answered_time": "answered_at",
    "hungup_time": "hungup_at",
}


_COLUMNS = tuple(
    (f.name, "id" if f.name == "leg_id" else "owner_id" if f.name == "owner" else f.name)
    for f in fields(CallDetailRecord)
    if f.name not in _TIMES
)


def _row(record: CallDetailRecord) -> dict[str, object]:
    """The table row of a record (column name -> value)."""
    values: dict[str, object] = {column: getattr(record, name) for name, column in _COLUMNS}
    for name, column in _TIMES.items():
        values[column] = _at(getattr(record, name))
    values["ring_duration"] = record.ring_duration
    values["duration"] = record.duration
    return values


def _record(row: CallRecord) -> CallDetailRecord:
    values: dict[str, object] = {}
    for f in fields(CallDetailRecord):
        if f.name == "leg_id":
            values[f.name] = row.id
        elif f.name == "owner":
            values[f.name] = row.owner_id
        elif f.name in _TIMES:
            values[f.name] = _epoch(getattr(row, _TIMES[f.name]))
        else:
            values[f.name] = getattr(row, f.name)
    return CallDetailRecord(**values)  # type: ignore[arg-type]


class CdrRepository(Repository):
    """Written by the switch (system data); read by owners, each seeing only their own."""

    async def add_all(self, records: list[CallDetailRecord]) -> None:
        if not records:
            return
        # a Core executemany: the ORM's unit of work costs several times more per row
        table = cast(Table, CallRecord.__table__)
        async with self._sessions() as session, session.begin():
            await (await session.connection()).execute(insert(table), [_row(r) for r in records])

    async def list(self, scope: Scope, *, limit: int = 100) -> list[CallDetailRecord]:
        """The newest first; a customer sees only their own legs."""
        stmt = select(CallRecord).order_by(CallRecord.created_at.desc()).limit(limit)
        if not scope.admin:
            stmt = stmt.where(CallRecord.owner_id == scope.customer_id)
        async with self._sessions() as session:
            return [_record(row) for row in (await session.execute(stmt)).scalars()]
