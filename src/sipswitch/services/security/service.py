"""The security screen in front of every service, and the bans' persistence.

Bans live in memory (checked on every request) and in the ``security_bans`` table, written
behind every few seconds; the same pass reads the table back, so a ban lifted with
``sipswitch security unban`` (another process) is lifted here within :data:`SYNC_INTERVAL`, and
bans survive a restart. Failure counters stay in memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from sipswitch.runtime.clock import Clock
from sipswitch.runtime.events import ConsoleEvent, EventBus, EventKind
from sipswitch.services.dispatch import IncomingRequest
from sipswitch.services.security.guard import Ban, SecurityGuard
from sipswitch.storage.bindings import BanRecord, BanRepository

log = structlog.get_logger("sipswitch.security")

#: seconds between writing new bans and reading lifted ones
SYNC_INTERVAL = 2.0


def drop(incoming: IncomingRequest) -> None:
    """Answer nothing: end the server transaction silently (no response, no TU events)."""
    endpoint = incoming.endpoint
    tx = endpoint.layer.transaction(incoming.tx)
    if tx is not None:
        tx.silent = True
        endpoint.layer.transport_error(incoming.tx, endpoint.clock.now())
        endpoint.pump()
    incoming.answered = True


class SecurityService:
    """Screens requests (:meth:`screen`, the dispatcher's hook) and keeps bans in storage."""

    def __init__(
        self, guard: SecurityGuard, bans: BanRepository, clock: Clock, events: EventBus
    ) -> None:
        self.guard = guard
        self.repository = bans
        self.clock = clock
        self.events = events
        self._wake = asyncio.Event()
        #: told of each failed digest attempt, so every worker counts every failure
        self.share: Callable[[str, str | None, float], None] | None = None

    # -- the front-door hook ------------------------------------------------------------------
    def screen(self, incoming: IncomingRequest) -> bool:
        """True when the request was dealt with here (answered or dropped)."""
        ip = incoming.source[0]
        guard = self.guard
        if guard.is_exempt(ip):
            return False
        now = self.clock.wall()
        request = incoming.request
        if guard.is_scanner(request.get("User-Agent")):
            if str(guard.settings.scanner_action) == "reject" and guard.answer_scanner(ip, now):
                incoming.respond(403)
            else:
                drop(incoming)
            return True
        ban = guard.source_ban(ip, now)
        if ban is None and request.method == "REGISTER":
            ban = guard.request(ip, now)
            if ban is not None:
                self.banned(ban, incoming)
        if ban is None:
            return False
        if ban.reason == "request flood":
            drop(incoming)
        else:
            incoming.respond(403, "Forbidden (too many failures)")
        return True

    def auth_failed(
        self,
        ip: str,
        aor: str | None,
        now: float,
        incoming: IncomingRequest | None = None,
        *,
        remote: bool = False,
    ) -> None:
        """Count a failed digest attempt (here and, through :attr:`share`, in the other
        workers; ``remote``: one another worker saw); ban the source or account at the
        threshold."""
        for ban in self.guard.auth_failed(ip, aor, now):
            self.banned(ban, incoming)
        if self.share is not None and not remote:
            self.share(ip, aor, now)

    def banned(self, ban: Ban, incoming: IncomingRequest | None = None) -> None:
        """Log and show a new ban; it is written at the next sync."""
        log.warning(
            "banned", key=ban.key, reason=ban.reason, seconds=int(ban.until - ban.created_at)
        )
        self.events.publish(
            ConsoleEvent(
                kind=EventKind.WARN,
                owner=None,
                time=ban.created_at,
                message=f"banned {ban.key} ({ban.reason}, {ban.failures})",
                remote=None if incoming is None else f"{incoming.source[0]}:{incoming.source[1]}",
            )
        )
        self._wake.set()

    # -- persistence --------------------------------------------------------------------------
    async def load(self) -> None:
        now = self.clock.wall()
        for record in await self.repository.list():
            if record.until > now:
                self.guard.adopt(_ban(record))

    async def sync(self) -> None:
        """Write new and lifted bans; adopt the table's, forget the ones deleted there."""
        guard = self.guard
        dirty, guard.dirty = guard.dirty, {}
        try:
            await self.repository.delete([k for k, b in dirty.items() if b is None])
            await self.repository.save([_record(b) for b in dirty.values() if b is not None])
            stored = {r.key: r for r in await self.repository.list()}
        except Exception:
            for key, ban in dirty.items():
                guard.dirty.setdefault(key, ban)
            raise
        now = self.clock.wall()
        for ban in guard.bans(now):
            if ban.key not in stored and ban.key not in guard.dirty:
                guard.forget(ban.key)
                log.info("ban lifted", key=ban.key)
        expired = [k for k, r in stored.items() if r.until <= now]
        for key, record in stored.items():
            if record.until > now and guard.ban_for(key, now) is None and key not in guard.dirty:
                guard.adopt(_ban(record))
        if expired:
            await self.repository.delete(expired)
        guard.prune(now)

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SYNC_INTERVAL)
            self._wake.clear()
            try:
                await self.sync()
            except Exception as exc:  # the database is away: keep the bans in memory
                log.warning("cannot sync bans", error=str(exc))
                await asyncio.sleep(SYNC_INTERVAL)


def _ban(record: BanRecord) -> Ban:
    return Ban(
        record.key, record.kind, record.reason, record.failures, record.created_at, record.until
    )


def _record(ban: Ban) -> BanRecord:
    return BanRecord(ban.key, ban.kind, ban.reason, ban.failures, ban.created_at, ban.until)
