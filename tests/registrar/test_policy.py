"""Expiry policy, the §10.3 binding update and the security bookkeeping, without sockets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.config import SecuritySettings, parse_user_agent_rule
from sipswitch.runtime.clock import FakeClock
from sipswitch.services.location import LocationService
from sipswitch.services.registrar.policy import (
    ExpiryPolicy,
    Plan,
    Registration,
    Rejected,
    contact_listing,
    plan,
)
from sipswitch.services.security import SecurityGuard
from sipswitch.sip.address import parse_address
from sipswitch.storage.bindings import BindingRecord, BindingRepository

POLICY = ExpiryPolicy(120, 3600, 3600, (parse_user_agent_rule("^Grandstream=300/own"),))


def _reg(*contacts: str, expires: int | None = None, cseq: int = 1, call_id: str = "c1",
         star: bool = False, ua: str = "phone") -> Registration:  # fmt: skip
    return Registration(
        aor="101@example.com", account_id=1, owner_id=7,
        contacts=tuple(parse_address(c) for c in contacts), star=star, expires=expires,
        call_id=call_id, cseq=cseq, user_agent=ua, source_ip="192.0.2.9", source_port=5062,
        transport="udp", local="udp:0.0.0.0:5060", keepalive=True,
    )  # fmt: skip


def _ok(result: Plan | Rejected) -> Plan:
    assert isinstance(result, Plan), result
    return result


def test_grant_caps_floors_and_defaults() -> None:
    assert POLICY.grant(None, "phone") == 3600
    assert POLICY.grant(99999, "phone") == 3600
    assert POLICY.grant(600, "Grandstream GXP") == 300
    assert POLICY.grant(0, "phone") == 0
    assert POLICY.too_brief(30) and not POLICY.too_brief(0) and not POLICY.too_brief(None)


def test_add_refresh_remove_and_star() -> None:
    first = _ok(plan([], _reg("<sip:a@192.0.2.1>;q=0.7", expires=600), POLICY,
                     max_bindings=10, now=1000.0))  # fmt: skip
    (binding,) = first.added
    assert (binding.q, binding.expires_at, binding.source_ip) == (0.7, 1600.0, "192.0.2.9")
    again = _ok(plan(first.bindings, _reg("<sip:a@192.0.2.1>", cseq=2), POLICY,
                     max_bindings=10, now=1100.0))  # fmt: skip
    assert again.refreshed and again.bindings[0].id == binding.id
    assert contact_listing(again.bindings, 1100.0) == ["<sip:a@192.0.2.1>;expires=3600"]
    stale = plan(again.bindings, _reg("<sip:a@192.0.2.1>", cseq=2), POLICY, max_bindings=10,
                 now=1200.0)  # fmt: skip
    assert isinstance(stale, Rejected) and stale.status == 500
    other_call = _ok(
        plan(
            again.bindings,
            _reg("<sip:a@192.0.2.1>", cseq=1, call_id="c2", expires=0),
            POLICY,
            max_bindings=10,
            now=1200.0,
        )
    )
    assert other_call.bindings == () and other_call.removed
    assert isinstance(plan([], _reg(star=True, expires=5), POLICY, max_bindings=10, now=0.0),
                      Rejected)  # fmt: skip
    gone = _ok(plan(again.bindings, _reg(star=True, expires=0, cseq=3), POLICY,
                    max_bindings=10, now=1200.0))  # fmt: skip
    assert gone.bindings == () and len(gone.removed) == 1


def test_interval_too_brief_and_bad_params() -> None:
    brief = plan([], _reg("<sip:a@h>;expires=10"), POLICY, max_bindings=10, now=0.0)
    assert isinstance(brief, Rejected) and brief.status == 423
    assert ("Min-Expires", "120") in brief.headers
    bad = plan([], _reg("<sip:a@h>;q=7"), POLICY, max_bindings=10, now=0.0)
    assert isinstance(bad, Rejected) and bad.status == 400


def test_cap_evicts_the_least_recently_refreshed() -> None:
    bindings: tuple[BindingRecord, ...] = ()
    for i in range(4):
        bindings = _ok(plan(bindings, _reg(f"<sip:a@192.0.2.{i}>", cseq=i + 1), POLICY,
                            max_bindings=3, now=100.0 + i)).bindings  # fmt: skip
    assert [b.uri for b in bindings] == ["sip:a@192.0.2.1", "sip:a@192.0.2.2", "sip:a@192.0.2.3"]


def test_sweeper_expires_with_a_fake_clock() -> None:
    clock = FakeClock()
    location = LocationService(BindingRepository(None), clock)  # type: ignore[arg-type]
    now = clock.wall()
    result = _ok(plan([], _reg("<sip:a@h1>", expires=120), POLICY, max_bindings=10, now=now))
    location.commit("101@example.com", result.bindings, ())
    assert len(location.lookup("101@example.com")) == 1
    clock.advance(119)
    assert location.sweep(clock.wall()) == []
    clock.advance(2)
    assert location.lookup("101@example.com") == []
    assert [b.uri for b in location.sweep(clock.wall())] == ["sip:a@h1"]
    assert len(location) == 0 and location.pending == 1


def test_guard_bans_after_failures_and_lifts() -> None:
    guard = SecurityGuard(SecuritySettings(auth_failures=3, exempt=("10.0.0.0/8",)))
    assert guard.auth_failed("192.0.2.1", "a@x", 0.0) == []
    assert guard.auth_failed("192.0.2.1", "a@x", 1.0) == []
    bans = guard.auth_failed("192.0.2.1", "a@x", 2.0)
    assert [b.key for b in bans] == ["source:192.0.2.1"]
    assert guard.source_ban("192.0.2.1", 3.0) is not None
    assert guard.source_ban("192.0.2.1", 2.0 + 1800) is None  # cool-off over
    for t in range(10):
        guard.auth_failed("10.1.1.1", "a@x", float(t))
    assert guard.source_ban("10.1.1.1", 11.0) is None  # exempt
    assert guard.is_scanner("friendly-scanner 1.0") and not guard.is_scanner("Linphone")
    flood = [guard.request("192.0.2.5", 0.01 * i) for i in range(17)]
    assert flood[-1] is not None and flood[-1].reason == "request flood"
    assert guard.lift("source:192.0.2.5") and guard.source_ban("192.0.2.5", 1.0) is None


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_user_agent_rule_parser_raises_only_value_error(text: str) -> None:
    try:
        rule = parse_user_agent_rule(text)
    except ValueError:
        return
    assert 1 <= rule.max_expiry <= 604800


@pytest.mark.parametrize("text", ["x", "=5", "a=0", "a=5/x", "(=5"])
def test_bad_user_agent_rules(text: str) -> None:
    with pytest.raises(ValueError):
        parse_user_agent_rule(text)
