"""The location service: where each address-of-record is reachable now (RFC 3261 §10.2, §16.5).

Bindings are held in memory, indexed by AOR (``user@domain``, the account's canonical domain),
and written behind to storage: every change is queued (coalesced per binding) and a writer
task commits the queue in one transaction, continuously. The REGISTER path never waits on the
database, so a 200 OK costs microseconds; a graceful stop flushes the queue, so a restart loses
nothing; a crash loses at most the batch in flight (the phones re-register). At start every
stored binding that has not expired is read back.

Requests to a binding go to its real source (:attr:`BindingRecord.target`): the address and
transport the REGISTER came from, over the same connection while it is open (NAT traversal).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import zlib
from collections.abc import Callable, Iterable

import structlog

from sipswitch.runtime.clock import Clock
from sipswitch.runtime.events import ConsoleEvent, EventBus, EventKind
from sipswitch.runtime.metrics import Metrics
from sipswitch.storage.bindings import BindingRecord, BindingRepository
from sipswitch.transport.base import Target

log = structlog.get_logger("sipswitch.location")

Binding = BindingRecord
Sender = Callable[[bytes, Target], None]
#: told of each committed change (aor, changed bindings, ids removed), for the other workers
Replicator = Callable[[str, list[Binding], list[str]], None]

#: seconds between expiry sweeps
SWEEP_INTERVAL = 1.0
#: least seconds between two binding writes (a crash loses at most this much, plus the batch
#: in flight; the phones re-register)
WRITE_INTERVAL = 0.25
#: what a keep-alive is: a double CRLF in a datagram (RFC 5626 §4.4.1 style), a CRLF on streams
KEEPALIVE_UDP = b"\r\n\r\n"
KEEPALIVE_STREAM = b"\r\n"


class LocationService:
    """In-memory bindings with write-behind persistence, expiry sweeping and NAT keep-alives."""

    def __init__(
        self,
        repository: BindingRepository,
        clock: Clock,
        *,
        events: EventBus | None = None,
        metrics: Metrics | None = None,
        send: Sender | None = None,
        keepalive_interval: int = 15,
        primary: bool = True,
    ) -> None:
        self.repository = repository
        #: the worker that sweeps storage, announces expiries and sends keep-alives (with
        #: several workers each holds every binding, the others only in memory)
        self.primary = primary
        self.replicate: Replicator | None = None
        self.clock = clock
        self.events = events
        self.metrics = metrics
        self.send = send
        self.keepalive_interval = max(int(keepalive_interval), 1)
        self._by_aor: dict[str, list[Binding]] = {}
        #: the AORs whose keep-alives go out in each second of the interval, so a tick visits
        #: its share of the bindings rather than all of them
        self._slots: list[set[str]] = [set() for _ in range(self.keepalive_interval)]
        self._count = 0
        self._expiry: list[tuple[float, str, str]] = []  # (expires_at, id, aor), lazy deletion
        self._dirty: dict[str, Binding | None] = {}
        self._wake = asyncio.Event()
        self._flushing: asyncio.Lock | None = None
        self._tick = 0

    # -- reading ------------------------------------------------------------------------------
    def lookup(self, aor: str) -> list[Binding]:
        """The live bindings of ``aor``, best first (highest q, then most recently refreshed)."""
        now = self.clock.wall()
        live = [b for b in self._by_aor.get(aor.lower(), ()) if b.expires_at > now]
        live.sort(key=lambda b: (-(b.q if b.q is not None else 1.0), -b.updated_at))
        return live

    def bindings(self, aor: str) -> list[Binding]:
        """The bindings of ``aor`` as stored (registration order), expired ones not yet swept."""
        return list(self._by_aor.get(aor.lower(), ()))

    def aors(self) -> list[str]:
        return list(self._by_aor)

    def __len__(self) -> int:
        return self._count

    # -- writing ------------------------------------------------------------------------------
    def commit(self, aor: str, bindings: Iterable[Binding], removed: Iterable[Binding]) -> None:
        """Make ``bindings`` the AOR's set (RFC 3261 §10.3: all of a REGISTER's changes become
        visible together); ``removed`` are the ones that left. Queued for storage, and told to
        the other workers."""
        key = aor.lower()
        changed = self._set(key, list(bindings))
        gone = [binding.id for binding in removed]
        for binding_id in gone:
            self._dirty[binding_id] = None
        for binding in changed:
            self._dirty[binding.id] = binding
        self._wake.set()
        if self.replicate is not None and (changed or gone):
            self.replicate(key, changed, gone)

    def _set(self, key: str, new: list[Binding]) -> list[Binding]:
        """Replace the AOR's set in memory; the bindings that are new or changed."""
        old = self._by_aor.get(key, [])
        self._count += len(new) - len(old)
        if new:
            self._by_aor[key] = new
            if not old:
                self._slot(key).add(key)
        elif old:
            del self._by_aor[key]
            self._slot(key).discard(key)
        kept = {b.id: b for b in old}
        changed = [b for b in new if kept.get(b.id) is not b]
        for binding in changed:
            heapq.heappush(self._expiry, (binding.expires_at, binding.id, key))
        if self.metrics is not None:
            self.metrics.set_bindings(self._count)
        return changed

    def apply_remote(self, aor: str, changed: Iterable[Binding], removed: Iterable[str]) -> None:
        """Another worker's commit: the same change here, in memory only."""
        key = aor.lower()
        updates = {b.id: b for b in changed}
        gone = set(removed)
        current = [updates.pop(b.id, b) for b in self._by_aor.get(key, ()) if b.id not in gone]
        current.extend(updates.values())
        self._set(key, current)

    def restore(self, records: Iterable[Binding], now: float) -> int:
        """Index bindings read from storage (not queued again); expired ones are dropped and
        queued for deletion. Returns how many were kept."""
        kept = 0
        for record in records:
            if record.expires_at <= now:
                self._dirty[record.id] = None
                continue
            key = record.aor.lower()
            present = self._by_aor.get(key)
            if present is None:
                present = self._by_aor[key] = []
                self._slot(key).add(key)
            if any(b.id == record.id for b in present):
                continue  # a newer copy came from another worker while we were loading
            present.append(record)
            heapq.heappush(self._expiry, (record.expires_at, record.id, key))
            kept += 1
        for items in self._by_aor.values():
            items.sort(key=lambda b: b.created_at)
        self._count = sum(len(v) for v in self._by_aor.values())
        if self.metrics is not None:
            self.metrics.set_bindings(self._count)
        return kept

    def sweep(self, now: float) -> list[Binding]:
        """Remove the bindings that have expired by ``now`` (BindingExpired for each)."""
        gone: list[Binding] = []
        heap = self._expiry
        while heap and heap[0][0] <= now:
            expires_at, binding_id, aor = heapq.heappop(heap)
            current = self._by_aor.get(aor)
            if not current:
                continue
            match = next((b for b in current if b.id == binding_id), None)
            if match is None or match.expires_at != expires_at:
                continue  # refreshed or removed since
            rest = [b for b in current if b.id != binding_id]
            if self.primary:
                self.commit(aor, rest, [match])
            else:  # the first worker deletes it from storage and announces it
                self._set(aor, rest)
            gone.append(match)
        if not self.primary:
            return gone
        for binding in gone:
            self._publish(EventKind.BINDING_EXPIRED, binding, "expired")
        return gone

    def _publish(self, kind: EventKind, binding: Binding, what: str) -> None:
        if self.events is None:
            return
        if not self.events.listening(binding.owner_id):
            self.events.published += 1
            return
        self.events.publish(
            ConsoleEvent(
                kind=kind,
                owner=binding.owner_id,
                time=self.clock.wall(),
                message=f"{binding.aor} binding {binding.uri} {what}",
                remote=f"{binding.source_ip}:{binding.source_port}",
                transport=binding.transport,
                sip_method="REGISTER",
            )
        )

    def removed(self, binding: Binding, why: str) -> None:
        """Announce a binding that left other than by expiry (unregistered, cap)."""
        self._publish(EventKind.BINDING_REMOVED, binding, f"removed ({why})")

    # -- storage ------------------------------------------------------------------------------
    async def load(self) -> int:
        return self.restore(await self.repository.load_all(), self.clock.wall())

    @property
    def pending(self) -> int:
        """Changes not yet written."""
        return len(self._dirty)

    async def flush(self) -> None:
        """Write every queued change (one transaction). On failure the queue is kept."""
        if self._flushing is None:
            self._flushing = asyncio.Lock()
        async with self._flushing:
            batch, self._dirty = self._dirty, {}
            if not batch:
                return
            try:
                await self.repository.apply(batch)
            except BaseException:
                for key, value in batch.items():
                    self._dirty.setdefault(key, value)  # newer changes win
                raise

    async def run_writer(self) -> None:
        """Commit queued changes in batches at most every :data:`WRITE_INTERVAL` (so a busy
        registrar writes hundreds of bindings per transaction); back off while the database
        is away."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:
                log.warning("cannot write bindings; kept in memory", error=str(exc))
                await asyncio.sleep(1.0)
                self._wake.set()
            else:
                await asyncio.sleep(WRITE_INTERVAL)

    async def run_sweeper(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.sweep(self.clock.wall())

    # -- NAT keep-alives ----------------------------------------------------------------------
    def _slot(self, key: str) -> set[str]:
        return self._slots[zlib.crc32(key.encode()) % self.keepalive_interval]

    def keepalive_tick(self) -> int:
        """Send this second's share of keep-alives: each binding once per interval, the AORs
        spread evenly over it. Returns how many were sent."""
        if self.send is None or not self.primary:
            return 0
        slot = self._slots[self._tick % self.keepalive_interval]
        self._tick += 1
        now = self.clock.wall()
        sent = 0
        by_aor = self._by_aor
        for key in slot:
            for b in by_aor[key]:
                if not b.keepalive or b.expires_at <= now:
                    continue
                data = KEEPALIVE_UDP if b.transport == "udp" else KEEPALIVE_STREAM
                self.send(data, b.target)
                sent += 1
        return sent

    async def run_keepalives(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.keepalive_tick()

    async def close(self) -> None:
        """Final flush (a graceful stop loses nothing)."""
        with contextlib.suppress(Exception):
            await self.flush()
