"""The registration decision core: every phase × every outcome, on a fake clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.runtime.clock import FakeClock
from sipswitch.services.providers.core import (
    MAX_EXPIRY,
    DnsFailure,
    NoAnswer,
    Outcome,
    Phase,
    Registered,
    RegistrationCore,
    RegistrationPolicy,
    Rejected,
    Send,
)
from sipswitch.storage.records import RegistrationStatus

POLICY = RegistrationPolicy()  # 50 s apart, margin 5, floor 60, 300 + 60 jitter, 5 DNS


def core(
    clock: FakeClock, *, expiry: int = 3600, jitter: float = 0.5, **kw: object
) -> RegistrationCore:
    return RegistrationCore(
        POLICY,
        expiry=expiry,
        now=clock.now(),
        random=lambda: jitter,
        **kw,  # type: ignore[arg-type]
    )


def registered(clock: FakeClock, granted: int = 3600) -> RegistrationCore:
    c = core(clock)
    assert c.poll(clock.now()) == Send(3600)
    c.on_outcome(clock.now(), Registered(granted))
    return c


def test_first_attempt_is_immediate_and_then_in_flight() -> None:
    clock = FakeClock()
    c = core(clock)
    assert c.snapshot().status == RegistrationStatus.PENDING
    assert c.poll(clock.now()) == Send(3600)
    assert c.phase == Phase.REGISTERING
    assert c.poll(clock.now() + 1000) is None  # one in flight at a time
    assert c.bound(clock.now())


def test_success_refreshes_at_granted_expiry_minus_margin() -> None:
    clock = FakeClock()
    c = registered(clock, 600)
    assert c.phase == Phase.REGISTERED and c.granted == 600
    assert c.due == clock.now() + 595
    snap = c.snapshot()
    assert (snap.status, snap.last_error, snap.next_attempt) == (
        RegistrationStatus.REGISTERED,
        None,
        clock.now() + 595,
    )
    assert c.poll(clock.now() + 594.9) is None
    assert c.poll(clock.now() + 595) == Send(3600)


def test_granted_expiry_is_floored_at_60() -> None:
    clock = FakeClock()
    c = registered(clock, 10)
    assert c.granted == 60 and c.due == clock.now() + 55


def test_granted_zero_is_floored_too() -> None:
    clock = FakeClock()
    c = registered(clock, 0)
    assert c.granted == 60


def test_requested_expiry_is_floored_and_capped() -> None:
    clock = FakeClock()
    assert core(clock, expiry=5).expiry == 60
    assert core(clock, expiry=10**9).expiry == MAX_EXPIRY


@pytest.mark.parametrize("status", [403, 404, 604])
def test_refusal_disables_with_a_reason(status: int) -> None:
    clock = FakeClock()
    c = core(clock)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Rejected(status, "Forbidden"))
    assert c.phase == Phase.DISABLED and c.due is None
    snap = c.snapshot()
    assert snap.status == RegistrationStatus.DISABLED and snap.next_attempt is None
    assert snap.last_error is not None
    assert snap.last_error.startswith(f"{status} Forbidden") and "disabled" in snap.last_error
    assert c.poll(clock.now() + 10**6) is None
    assert c.stop(clock.now()) is None
    assert c.phase == Phase.STOPPED  # type: ignore[comparison-overlap]


def test_refusal_on_refresh_disables_and_does_not_unregister() -> None:
    clock = FakeClock()
    c = registered(clock, 120)
    clock.advance(115)
    assert c.poll(clock.now()) == Send(3600)
    c.on_outcome(clock.now(), Rejected(403, "Forbidden"))
    assert c.phase == Phase.DISABLED
    assert c.stop(clock.now()) is None


@pytest.mark.parametrize(
    ("outcome", "error"),
    [
        (Rejected(500, "Server Internal Error"), "500 Server Internal Error"),
        (Rejected(503, "Service Unavailable"), "503 Service Unavailable"),
        (Rejected(480, "Temporarily Unavailable"), "480"),
        (Rejected(302, "Moved Temporarily"), "302"),
        (Rejected(401, "Unauthorized"), "authentication failed"),
        (Rejected(407, "Proxy Authentication Required"), "authentication failed"),
        (NoAnswer("no answer from any target"), "no answer"),
        (DnsFailure("provider.test: nxdomain"), "DNS: provider.test: nxdomain"),
    ],
)
def test_failures_back_off_300_plus_jitter(outcome: Outcome, error: str) -> None:
    clock = FakeClock()
    c = core(clock, jitter=0.25)
    c.poll(clock.now())
    c.on_outcome(clock.now(), outcome)
    assert c.phase == Phase.WAITING
    assert c.due == clock.now() + 300 + 15
    snap = c.snapshot()
    assert snap.status == RegistrationStatus.FAILED and snap.next_attempt == c.due
    assert snap.last_error is not None and error in snap.last_error
    assert c.poll(clock.now() + 314) is None
    assert c.poll(clock.now() + 315) == Send(3600)


@pytest.mark.parametrize("jitter", [0.0, 0.999])
def test_jitter_spans_zero_to_sixty_seconds(jitter: float) -> None:
    clock = FakeClock()
    c = core(clock, jitter=jitter)
    c.poll(clock.now())
    c.on_outcome(clock.now(), NoAnswer("timeout"))
    assert c.due == pytest.approx(clock.now() + 300 + 60 * jitter)


def test_retry_after_longer_than_back_off_is_honoured_and_capped() -> None:
    clock = FakeClock()
    c = core(clock, jitter=0.0)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Rejected(503, "Busy", retry_after=900))
    assert c.due == clock.now() + 900
    clock.advance(900)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Rejected(503, "Busy", retry_after=10**6))
    assert c.due == clock.now() + 3600
    clock.advance(3600)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Rejected(503, "Busy", retry_after=5))
    assert c.due == clock.now() + 300


def test_423_raises_expiry_to_min_expires_and_backs_off() -> None:
    clock = FakeClock()
    c = core(clock, expiry=600, jitter=0.0)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Rejected(423, "Interval Too Brief", min_expires=1800))
    assert c.expiry == 1800 and c.phase == Phase.WAITING
    assert c.due == clock.now() + 300
    assert c.last_error is not None and "1800" in c.last_error
    clock.advance(300)
    assert c.poll(clock.now()) == Send(1800)


def test_423_without_a_larger_min_expires_doubles() -> None:
    clock = FakeClock()
    c = core(clock, expiry=600, jitter=0.0)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Rejected(423, "Interval Too Brief"))
    assert c.expiry == 1200
    clock.advance(300)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Rejected(423, "Interval Too Brief", min_expires=100))
    assert c.expiry == 2400


def test_423_expiry_is_capped() -> None:
    clock = FakeClock()
    c = core(clock, jitter=0.0)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Rejected(423, "Too Brief", min_expires=10**9))
    assert c.expiry == MAX_EXPIRY


def test_repeated_dns_failures_disable() -> None:
    clock = FakeClock()
    c = core(clock, jitter=0.0)
    for n in range(1, 5):
        assert c.poll(clock.now()) is not None
        c.on_outcome(clock.now(), DnsFailure("x.test: nxdomain"))
        assert c.phase == Phase.WAITING and c.dns_failures == n
        clock.advance(300)
    c.poll(clock.now())
    c.on_outcome(clock.now(), DnsFailure("x.test: nxdomain"))
    assert c.phase == Phase.DISABLED
    assert c.last_error is not None and "5 failures in a row" in c.last_error


def test_dns_failure_count_resets_on_any_answer() -> None:
    clock = FakeClock()
    c = core(clock, jitter=0.0)
    for outcome in [DnsFailure("a")] * 4 + [NoAnswer("t")] + [DnsFailure("a")] * 4:
        c.poll(clock.now())
        c.on_outcome(clock.now(), outcome)
        clock.advance(300)
    assert c.phase == Phase.WAITING and c.dns_failures == 4


def test_success_after_failure_clears_the_error() -> None:
    clock = FakeClock()
    c = core(clock, jitter=0.0)
    c.poll(clock.now())
    c.on_outcome(clock.now(), NoAnswer("t"))
    clock.advance(300)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Registered(3600))
    assert c.snapshot().status == RegistrationStatus.REGISTERED
    assert c.last_error is None and c.failures == 0


def test_failed_refresh_backs_off_and_still_unregisters_a_live_binding() -> None:
    clock = FakeClock()
    c = registered(clock, 3600)
    clock.advance(3595)
    c.poll(clock.now())
    c.on_outcome(clock.now(), Rejected(500, "Oops"))
    assert c.snapshot().status == RegistrationStatus.FAILED
    assert c.bound(clock.now())  # the old binding lives 5 s more
    assert c.stop(clock.now()) == Send(0)
    assert c.phase == Phase.UNREGISTERING


def test_min_interval_holds_even_for_instant_refresh() -> None:
    clock = FakeClock()
    c = RegistrationCore(
        RegistrationPolicy(min_expiry=1, refresh_margin=5, backoff=1, jitter=0),
        expiry=1,
        now=clock.now(),
        random=lambda: 0.0,
    )
    c.poll(clock.now())
    c.on_outcome(clock.now(), Registered(1))
    assert c.due == clock.now() + 50
    c.on_outcome(clock.now(), NoAnswer("late"))  # not in flight: ignored
    assert c.phase == Phase.REGISTERED


def test_remembered_last_attempt_and_not_before_delay_the_first_attempt() -> None:
    clock = FakeClock()
    c = core(clock, last_attempt=clock.now() - 10)
    assert c.due == clock.now() + 40
    c = core(clock, not_before=clock.now() + 200)
    assert c.due == clock.now() + 200


def test_starting_disabled() -> None:
    clock = FakeClock()
    c = core(clock, disabled_reason="403 Forbidden")
    assert c.phase == Phase.DISABLED and c.poll(clock.now()) is None
    assert c.snapshot().last_error == "403 Forbidden"


def test_stop_while_registered_unregisters_then_stops() -> None:
    clock = FakeClock()
    c = registered(clock)
    assert c.stop(clock.now()) == Send(0)
    assert c.stop(clock.now()) is None  # once
    assert c.poll(clock.now() + 10**6) is None
    c.on_outcome(clock.now(), Rejected(500, "whatever"))
    assert c.phase == Phase.STOPPED and not c.bound(clock.now())


def test_stop_with_a_request_in_flight_unregisters() -> None:
    clock = FakeClock()
    c = core(clock)
    c.poll(clock.now())
    assert c.stop(clock.now()) == Send(0)


def test_stop_unbound_sends_nothing() -> None:
    clock = FakeClock()
    c = core(clock)
    assert c.stop(clock.now()) is None and c.phase == Phase.STOPPED
    c = registered(clock, 60)
    clock.advance(61)  # the refresh never ran; the binding has lapsed
    assert c.stop(clock.now()) is None


def test_outcome_when_not_in_flight_is_ignored() -> None:
    clock = FakeClock()
    c = core(clock)
    c.on_outcome(clock.now(), Registered(600))
    assert c.phase == Phase.WAITING and c.granted is None


OUTCOMES = st.one_of(
    st.builds(Registered, st.integers(0, 100_000)),
    st.builds(
        Rejected,
        st.sampled_from([300, 401, 403, 404, 407, 423, 480, 486, 500, 503, 600, 604]),
        st.just("x"),
        st.one_of(st.none(), st.integers(0, 100_000)),
        st.one_of(st.none(), st.integers(0, 100_000)),
    ),
    st.builds(NoAnswer, st.just("t")),
    st.builds(DnsFailure, st.just("d")),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 4000), OUTCOMES), max_size=40),
    st.floats(0, 0.999),
)
def test_attempts_are_never_closer_than_min_interval(
    steps: list[tuple[float, Outcome]], jitter: float
) -> None:
    clock = FakeClock()
    c = core(clock, jitter=jitter)
    attempts: list[float] = []
    for wait, outcome in steps:
        clock.advance(wait)
        if c.poll(clock.now()) is not None:
            attempts.append(clock.now())
            assert c.phase == Phase.REGISTERING
            c.on_outcome(clock.now() + min(wait, 30), outcome)
        snap = c.snapshot()
        if c.phase == Phase.DISABLED:
            assert snap.status == RegistrationStatus.DISABLED and snap.last_error
            assert c.due is None
        else:
            assert c.due is not None and snap.next_attempt == c.due
        assert 60 <= c.expiry <= MAX_EXPIRY
    assert all(b - a >= 50 for a, b in itertools.pairwise(attempts))
