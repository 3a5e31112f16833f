"""Every worker holds every binding: a commit in one is applied, in memory, in the others."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

from sipswitch.config import SecuritySettings
from sipswitch.runtime.clock import FakeClock
from sipswitch.runtime.events import ConsoleEvent, EventBus, EventKind
from sipswitch.services.location import Binding, LocationService
from sipswitch.services.security import SecurityGuard, SecurityService
from sipswitch.storage.bindings import BanRepository, BindingRepository

AOR = "101@example.com"


def binding(n: int, *, expires_at: float, updated_at: float = 0.0) -> Binding:
    return Binding(
        id=f"b{n}", aor=AOR, account_id=1, owner_id=1, contact=f"<sip:101@192.0.2.{n}>",
        uri=f"sip:101@192.0.2.{n}", q=None, expires_at=expires_at, call_id="c", cseq=n,
        source_ip="127.0.0.1", source_port=5000 + n, transport="udp", local="udp:127.0.0.1:5060",
        user_agent="test", instance=None, reg_id=None, keepalive=True, created_at=0.0,
        updated_at=updated_at,
    )  # fmt: skip


def location(clock: FakeClock, **options: Any) -> LocationService:
    """A location service without storage (nothing here flushes)."""
    return LocationService(BindingRepository(None), clock, **options)  # type: ignore[arg-type]


def pair(clock: FakeClock) -> tuple[LocationService, LocationService]:
    """A first worker and another one, joined as the mesh joins them (through pickle)."""
    first, other = location(clock), location(clock, primary=False)
    for source, sink in ((first, other), (other, first)):
        source.replicate = lambda aor, changed, removed, sink=sink: sink.apply_remote(
            *pickle.loads(pickle.dumps((aor, changed, removed)))
        )
    return first, other


def test_add_refresh_and_remove_reach_the_other_worker() -> None:
    clock = FakeClock()
    first, other = pair(clock)
    now = clock.wall()
    one, two = binding(1, expires_at=now + 60), binding(2, expires_at=now + 60)
    other.commit(AOR, [one, two], [])
    assert [b.id for b in first.lookup(AOR)] == ["b1", "b2"]
    assert first.pending == 0 and other.pending == 2  # only the worker that took it writes it
    refreshed = dataclasses.replace(two, expires_at=now + 600, updated_at=now)
    first.commit(AOR, [one, refreshed], [])
    assert other.bindings(AOR)[1].expires_at == now + 600
    first.commit(AOR, [refreshed], [one])
    assert [b.id for b in other.bindings(AOR)] == ["b2"] and len(other) == 1
    other.commit(AOR, [], [refreshed])
    assert first.lookup(AOR) == [] and len(first) == 0


def test_expiry_is_swept_everywhere_but_announced_and_stored_once() -> None:
    clock = FakeClock()
    first, other = pair(clock)
    other.commit(AOR, [binding(1, expires_at=clock.wall() + 30)], [])
    pending = other.pending
    clock.advance(31)
    assert [b.id for b in other.sweep(clock.wall())] == ["b1"]
    assert other.pending == pending  # the other worker neither deletes nor announces
    assert [b.id for b in first.sweep(clock.wall())] == ["b1"]
    assert first.pending == 1 and len(first) == 0 and len(other) == 0


def test_keepalives_are_sent_by_the_first_worker_only() -> None:
    clock = FakeClock()
    sent: list[object] = []
    first = location(clock, send=lambda d, t: sent.append(t), keepalive_interval=1)
    other = location(clock, send=lambda d, t: sent.append(t), keepalive_interval=1, primary=False)
    for each in (first, other):
        each.commit(AOR, [binding(1, expires_at=clock.wall() + 60)], [])
    assert other.keepalive_tick() == 0
    assert first.keepalive_tick() == 1


def test_restore_keeps_a_newer_copy_heard_while_loading() -> None:
    clock = FakeClock()
    other = location(clock, primary=False)
    newer = binding(1, expires_at=clock.wall() + 600, updated_at=5.0)
    other.apply_remote(AOR, [newer], [])
    kept = other.restore([binding(1, expires_at=clock.wall() + 60)], clock.wall())
    assert kept == 0 and other.bindings(AOR) == [newer] and len(other) == 1


def test_failed_digest_attempts_count_in_every_worker() -> None:
    """Brute force spread over workers (new Call-ID per try) is banned at the same threshold."""
    clock = FakeClock()
    settings = SecuritySettings(auth_failures=3)
    services = [
        SecurityService(SecurityGuard(settings), BanRepository(None), clock, EventBus())  # type: ignore[arg-type]
        for _ in range(2)
    ]
    for k, service in enumerate(services):
        peer = services[1 - k]
        service.share = lambda ip, aor, now, peer=peer: peer.auth_failed(ip, aor, now, remote=True)
    now = clock.wall()
    services[0].auth_failed("192.0.2.9", "101@example.com", now)
    services[1].auth_failed("192.0.2.9", "101@example.com", now)
    assert all(s.guard.source_ban("192.0.2.9", now) is None for s in services)
    services[0].auth_failed("192.0.2.9", "101@example.com", now)
    assert all(s.guard.source_ban("192.0.2.9", now) is not None for s in services)


async def test_console_events_of_every_worker_reach_the_first_workers_subscribers() -> None:
    first, other = EventBus(), EventBus()
    first.changed = lambda: other.set_remote_interest(pickle.loads(pickle.dumps(first.interest())))
    other.forward = lambda event: first.publish(pickle.loads(pickle.dumps(event)))
    assert not other.listening(5) and not other.tracing
    sub = first.subscribe("", owner=5)
    assert other.listening(5) and not other.listening(6) and not other.tracing
    event = ConsoleEvent(kind=EventKind.WARN, owner=5, time=1.0, message="from worker 1")
    other.publish(event)
    other.publish(ConsoleEvent(kind=EventKind.WARN, owner=6, time=1.0, message="nobody's"))
    assert await anext(sub) == event
    sub.close()
    assert not other.listening(5)


def test_each_binding_gets_one_keepalive_per_interval_and_a_tick_visits_its_share() -> None:
    clock = FakeClock()
    sent: list[Any] = []
    service = location(clock, send=lambda d, t: sent.append(t.port), keepalive_interval=15)
    expires = clock.wall() + 600
    for n in range(300):
        aor = f"{n}@example.com"
        service.commit(aor, [dataclasses.replace(binding(n, expires_at=expires), aor=aor)], [])
    service.commit("0@example.com", [], service.bindings("0@example.com"))  # gone: no more
    per_tick = [service.keepalive_tick() for _ in range(15)]
    assert sorted(sent) == [5000 + n for n in range(1, 300)]
    assert max(per_tick) < 60  # spread over the interval, not all in one second
    service.keepalive_tick()
    assert len(sent) == 299 + per_tick[0]  # the next interval starts over
