"""EventBus: tenancy, fan-out, slow consumers, closing, the full-trace fast check."""

from __future__ import annotations

import asyncio

import pytest

from sipswitch.runtime.events import (
    ConsoleEvent,
    ConsoleFilter,
    Direction,
    EventBus,
    EventKind,
    FilterError,
    Owner,
    SIPTraceEvent,
)

A, B = 101, 202


def ev(owner: Owner | None, n: int = 0, kind: EventKind = EventKind.DIAL_PLAN) -> ConsoleEvent:
    return ConsoleEvent(kind=kind, owner=owner, time=float(n), message=f"event {n}")


def trace(owner: Owner | None) -> SIPTraceEvent:
    return SIPTraceEvent(
        owner=owner, time=0.0, message="OPTIONS out", direction=Direction.OUT, raw="OPTIONS ..."
    )


def test_customer_never_sees_another_customers_events() -> None:
    bus = EventBus()
    sub_a = bus.subscribe("event full", owner=A)
    sub_b = bus.subscribe("event full", owner=B)
    for i in range(5):
        bus.publish(ev(A, i))
        bus.publish(ev(B, i))
        bus.publish(trace(B))
    got_a = sub_a.drain()
    assert len(got_a) == 5 and all(e.owner == A for e in got_a)
    got_b = sub_b.drain()
    assert len(got_b) == 10 and all(e.owner == B for e in got_b)


def test_admin_sees_everyone_and_system_events_are_admin_only() -> None:
    bus = EventBus()
    admin = bus.subscribe(owner=None, is_admin=True)
    customer = bus.subscribe(owner=A)
    bus.publish(ev(A, 1))
    bus.publish(ev(B, 2))
    bus.publish(ev(None, 3, EventKind.ERROR))
    assert [e.time for e in admin.drain()] == [1.0, 2.0, 3.0]
    assert [e.time for e in customer.drain()] == [1.0]


def test_admin_with_an_owner_still_sees_all() -> None:
    bus = EventBus()
    admin = bus.subscribe(owner=A, is_admin=True)
    bus.publish(ev(B))
    assert admin.pending == 1


def test_owner_zero_and_string_owners_route_exactly() -> None:
    bus = EventBus()
    zero = bus.subscribe(owner=0)
    name = bus.subscribe(owner="0")
    bus.publish(ev(0))
    assert zero.pending == 1 and name.pending == 0  # no int/str confusion across tenants


def test_customer_subscription_needs_an_owner() -> None:
    with pytest.raises(ValueError, match="owner"):
        EventBus().subscribe(owner=None)


def test_string_filter_is_parsed_and_errors_surface() -> None:
    bus = EventBus()
    sub = bus.subscribe("event error", owner=A)
    assert sub.filter == ConsoleFilter.parse("event error")
    with pytest.raises(FilterError):
        bus.subscribe("event nonsense", owner=A)
    assert bus.subscriber_count == 1


def test_filters_apply_per_subscription() -> None:
    bus = EventBus()
    errors = bus.subscribe("event error", owner=A)
    everything = bus.subscribe(ConsoleFilter.everything(), owner=A)
    bus.publish(ev(A, 1, EventKind.ERROR))
    bus.publish(ev(A, 2, EventKind.WARN))
    bus.publish(trace(A))
    assert [e.kind for e in errors.drain()] == [EventKind.ERROR]
    assert len(everything.drain()) == 3


def test_slow_consumer_drops_oldest_and_counts() -> None:
    bus = EventBus()
    slow = bus.subscribe(owner=A, maxsize=3)
    fast = bus.subscribe(owner=A, maxsize=100)
    for i in range(10):
        bus.publish(ev(A, i))  # returns at once: nobody is consuming
    assert [e.time for e in slow.drain()] == [7.0, 8.0, 9.0]
    assert slow.dropped == 7
    assert fast.dropped == 0 and fast.pending == 10


def test_publish_never_raises_even_if_a_filter_does() -> None:
    class Broken(ConsoleFilter):
        __slots__ = ()

        def matches(self, event: ConsoleEvent) -> bool:
            raise RuntimeError("boom")

    bus = EventBus()
    bus.subscribe(Broken(), owner=A)
    good = bus.subscribe(owner=A)
    bus.publish(ev(A))
    assert bus.delivery_errors == 1
    assert good.pending == 1


async def test_async_iteration_receives_in_order() -> None:
    bus = EventBus()
    sub = bus.subscribe(owner=A)
    received: list[float] = []

    async def consume() -> None:
        async for event in sub:
            received.append(event.time)
            if len(received) == 3:
                sub.close()

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)  # let the consumer park on an empty queue
    for i in range(3):
        bus.publish(ev(A, i))
    await task
    assert received == [0.0, 1.0, 2.0]


async def test_close_ends_a_waiting_iterator_and_unsubscribes() -> None:
    bus = EventBus()
    sub = bus.subscribe(owner=A)
    task = asyncio.create_task(anext(sub, None))
    await asyncio.sleep(0)
    sub.close()
    assert await task is None
    assert sub.closed and bus.subscriber_count == 0
    bus.publish(ev(A))
    assert sub.pending == 0
    sub.close()  # idempotent


async def test_async_with_closes() -> None:
    bus = EventBus()
    async with bus.subscribe(owner=A, is_admin=True) as sub:
        bus.publish(ev(B, 5))
        assert (await anext(sub)).time == 5.0
    assert sub.closed and bus.subscriber_count == 0
    assert [e async for e in sub] == []


async def test_bus_close_ends_every_subscription() -> None:
    bus = EventBus()
    subs = [bus.subscribe(owner=A), bus.subscribe(owner=B)]
    subs.append(bus.subscribe(owner=None, is_admin=True))
    bus.close()
    assert all(s.closed for s in subs) and bus.subscriber_count == 0


def test_wants_trace_is_per_customer_and_follows_subscriptions() -> None:
    bus = EventBus()
    assert not bus.wants_trace(A) and not bus.wants_trace(None)
    plain = bus.subscribe("event *", owner=A)
    assert not bus.wants_trace(A)
    full_a = bus.subscribe("event full", owner=A)
    full_a2 = bus.subscribe("event fullsiptrace", owner=A)
    assert bus.wants_trace(A) and not bus.wants_trace(B) and not bus.wants_trace(None)
    full_a.close()
    assert bus.wants_trace(A)
    full_a2.close()
    assert not bus.wants_trace(A)
    admin = bus.subscribe("event full", owner=None, is_admin=True)
    assert bus.wants_trace(A) and bus.wants_trace(B) and bus.wants_trace(None)
    admin.close()
    assert not bus.wants_trace(B)
    plain.close()
    assert bus.subscriber_count == 0


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        EventBus(default_maxsize=0)
    with pytest.raises(ValueError):
        EventBus().subscribe(owner=A, maxsize=0)


def test_event_as_dict_leaves_out_empty_fields() -> None:
    t = SIPTraceEvent(
        owner=A,
        time=1.5,
        message="INVITE in",
        direction=Direction.IN,
        raw="INVITE ...",
        sip_method="INVITE",
        remote="192.0.2.1:5060",
    )
    assert t.as_dict() == {
        "kind": "FullSIPTrace",
        "time": 1.5,
        "message": "INVITE in",
        "owner": A,
        "remote": "192.0.2.1:5060",
        "sip_method": "INVITE",
        "raw": "INVITE ...",
        "direction": "in",
    }
    assert ev(None).as_dict() == {"kind": "DialPlan", "time": 0.0, "message": "event 0"}
