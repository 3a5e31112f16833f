"""The Contact we register, the REGISTER we build, how answers read, and call attribution."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.services.providers.contact import (
    PlanError,
    build_register,
    contact_token,
    contact_uri,
    granted_expiry,
    outcome_of,
    plan_for,
)
from sipswitch.services.providers.core import NoAnswer, Registered, Rejected
from sipswitch.services.providers.directory import MatchRule, ProviderDirectory
from sipswitch.sip.message import Request, Response
from sipswitch.sip.parser import parse_message
from sipswitch.sip.uri import SipUri
from sipswitch.storage.records import ProviderRecord, RegistrationStatus

SECRET = b"server-secret"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def provider(pid: int = 7, owner: int = 3, **kw: object) -> ProviderRecord:
    values: dict[str, object] = {
        "id": pid,
        "owner_id": owner,
        "name": f"prov{pid}",
        "server": "sip.provider.test",
        "username": "alice",
        "auth_username": None,
        "password": "pw",
        "outbound_proxy": None,
        "from_header": None,
        "custom_headers": (),
        "disabled": False,
        "register": True,
        "register_contact": None,
        "register_expiry": 3600,
        "register_server": None,
        "registration_status": RegistrationStatus.PENDING,
        "last_error": None,
        "next_attempt_at": None,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(kw)
    return ProviderRecord(**values)  # type: ignore[arg-type]


def test_token_is_stable_opaque_and_per_provider() -> None:
    a = contact_token(provider(), SECRET)
    assert a == contact_token(provider(), SECRET)
    assert a.startswith("pr") and len(a) == 26 and a.isalnum() and a == a.lower()
    assert a != contact_token(provider(pid=8), SECRET)
    assert a != contact_token(provider(owner=4), SECRET)
    assert a != contact_token(provider(), b"other")
    # with no server secret: keyed by the provider's password and creation time
    b = contact_token(provider(), None)
    assert b != contact_token(provider(password="other"), None)
    assert b != contact_token(provider(created_at=T0 + dt.timedelta(seconds=1)), None)


def test_plan_and_register_request() -> None:
    record = provider(
        server="sip.provider.test:5070",
        register_server="sips:reg.provider.test;transport=tls",
        outbound_proxy="proxy.test:5080",
        auth_username="auth-alice",
    )
    plan = plan_for(record, SECRET)
    assert str(plan.registrar) == "sips:reg.provider.test;transport=tls"
    assert str(plan.aor) == "sip:alice@sip.provider.test:5070"
    assert plan.credentials == ("auth-alice", "pw") and plan.transport == "tls"
    contact = contact_uri(plan, "192.0.2.1", 5061, "tls")
    assert contact.user == plan.token and contact.scheme == "sips"
    assert contact.param("transport") == "tls" and contact.param("rinstance") == plan.rinstance
    request = build_register(
        plan, contact, expires=600, call_id="c1", cseq=4, from_tag="ft", user_agent="ua/1"
    )
    parsed = parse_message(request.to_bytes())
    assert isinstance(parsed, Request) and parsed.method == "REGISTER"
    assert parsed.uri_text == "sips:reg.provider.test;transport=tls"
    assert parsed.to.uri == plan.aor and parsed.to.tag is None and parsed.from_.tag == "ft"
    assert parsed.contacts[0].uri == contact and parsed.expires == 600
    assert parsed.cseq.seq == 4 and parsed.call_id == "c1"
    assert parsed.routes[0].uri == SipUri("proxy.test", port=5080, params=(("lr", None),))


def test_contact_for_udp_and_ipv6() -> None:
    plan = plan_for(provider(), SECRET)
    assert contact_uri(plan, "127.0.0.1", 5060, "udp").param("transport") is None
    assert contact_uri(plan, "::1", 5060, "udp").host == "[::1]"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"username": None}, "no username"),
        ({"server": "bad host<>"}, "server"),
        ({"register_server": "sip:"}, "register_server"),
    ],
)
def test_unusable_settings(changes: dict[str, object], error: str) -> None:
    with pytest.raises(PlanError, match=error):
        plan_for(provider(**changes), SECRET)  # type: ignore[arg-type]


def _ok(*headers: tuple[str, str]) -> Response:
    return Response(200, "OK", list(headers))


CONTACT = SipUri("127.0.0.1", user="prtoken", port=5060, params=(("rinstance", "ab"),))


def test_granted_expiry_prefers_our_contact() -> None:
    response = _ok(
        ("Contact", "<sip:other@1.2.3.4>;expires=30"),
        ("Contact", "<sip:prtoken@127.0.0.1:5060;rinstance=ab>;expires=900"),
        ("Expires", "1200"),
    )
    assert granted_expiry(response, CONTACT, 3600) == 900
    # rewritten host (provider NAT fixing): the token still finds it
    response = _ok(("Contact", "<sip:prtoken@203.0.113.9:1024;rinstance=ab>;expires=450"))
    assert granted_expiry(response, CONTACT, 3600) == 450
    assert granted_expiry(_ok(("Expires", "1200")), CONTACT, 3600) == 1200
    assert granted_expiry(_ok(), CONTACT, 3600) == 3600
    assert granted_expiry(_ok(("Contact", "<sip:x@y>;expires=5")), CONTACT, 3600) == 3600


def test_outcomes() -> None:
    assert outcome_of(_ok(("Expires", "60")), CONTACT, 3600) == Registered(60)
    assert outcome_of(Response(408, "Request Timeout"), CONTACT, 60) == NoAnswer(
        "408 Request Timeout"
    )
    assert outcome_of(
        Response(423, "Interval Too Brief", [("Min-Expires", "7200")]), CONTACT, 60
    ) == Rejected(423, "Interval Too Brief", 7200, None)
    assert outcome_of(
        Response(503, "Busy", [("Retry-After", "120 (maintenance);duration=60")]), CONTACT, 60
    ) == Rejected(503, "Busy", None, 120)
    assert outcome_of(Response(500, "X", [("Min-Expires", "junk")]), CONTACT, 60) == Rejected(
        500, "X", None, None
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.text(max_size=20), st.text(max_size=20))
def test_garbage_answers_never_raise(contact: str, expires: str, retry: str) -> None:
    response = _ok(("Contact", contact), ("Expires", expires), ("Retry-After", retry))
    granted = granted_expiry(response, CONTACT, 3600)
    assert granted >= 0
    failed = Response(503, "X", [("Min-Expires", expires), ("Retry-After", retry)])
    assert isinstance(outcome_of(failed, CONTACT, 60), Rejected)


def _invite(ruri: str, to: str = "<sip:5551234@provider.test>") -> Request:
    return Request(
        "INVITE",
        ruri,
        [
            ("Via", "SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKx"),
            ("From", "<sip:caller@provider.test>;tag=1"),
            ("To", to),
            ("Call-ID", "x"),
            ("CSeq", "1 INVITE"),
        ],
    )


def _directory() -> tuple[ProviderDirectory, ProviderRecord, ProviderRecord]:
    a = provider(7, 3, register_contact="sip:alice-home@sipswitch.example")
    b = provider(8, 4, name="other", username="bob", server="sip.other.test")
    directory = ProviderDirectory(SECRET)
    directory.update([a, b])
    return directory, a, b


def test_attribution_by_token() -> None:
    directory, _, b = _directory()
    token = contact_token(b, SECRET)
    match = directory.attribute(_invite(f"sip:{token}@127.0.0.1:5060;rinstance=zz"))
    assert match is not None and (match.customer_id, match.provider_id) == (4, 8)
    assert match.provider_name == "other" and match.rule == MatchRule.TOKEN
    assert match.rule.strong and directory.token_of(8) == token and len(directory) == 2


def test_attribution_by_configured_contact_user() -> None:
    directory, _, _ = _directory()
    match = directory.attribute(_invite("sip:alice-home@192.0.2.1"))
    assert match is not None and match.provider_id == 7 and match.rule == MatchRule.CONTACT_USER
    assert not match.rule.strong


def test_attribution_by_to_when_the_request_uri_is_the_did() -> None:
    directory, a, _ = _directory()
    token = contact_token(a, SECRET)
    match = directory.attribute(_invite("sip:5551234@192.0.2.1", f"<sip:{token}@192.0.2.1>"))
    assert match is not None and match.provider_id == 7 and match.rule == MatchRule.TO_TOKEN
    match = directory.attribute(_invite("sip:5551234@192.0.2.1", "<sip:bob@SIP.OTHER.TEST>"))
    assert match is not None and match.provider_id == 8 and match.rule == MatchRule.TO_AOR


def test_a_match_carries_the_incoming_account() -> None:
    a = provider(7, 3, incoming_account="201@sipswitch.example")
    b = provider(8, 4, name="other", username="bob", server="sip.other.test")
    directory = ProviderDirectory(SECRET)
    directory.update([a, b])
    for to in (None, f"<sip:{contact_token(a, SECRET)}@192.0.2.1>"):
        ruri = f"sip:{contact_token(a, SECRET)}@192.0.2.1" if to is None else "sip:555@192.0.2.1"
        match = directory.attribute(_invite(ruri) if to is None else _invite(ruri, to))
        assert match is not None and match.incoming_account == "201@sipswitch.example"
    match = directory.attribute(_invite(f"sip:{contact_token(b, SECRET)}@192.0.2.1"))
    assert match is not None and match.incoming_account is None


def test_no_attribution() -> None:
    directory, a, _ = _directory()
    assert directory.attribute(_invite("sip:5551234@192.0.2.1")) is None
    assert directory.attribute(_invite("tel:+15551234")) is None
    assert directory.attribute(_invite("sip:192.0.2.1")) is None
    # ambiguous weak matches give no owner
    twin = replace(a, id=9, owner_id=5, name="twin")
    directory.update([a, twin])
    assert directory.attribute(_invite("sip:alice-home@192.0.2.1")) is None
    assert directory.attribute(_invite("sip:1@192.0.2.1", "<sip:alice@sip.provider.test>")) is None
    # a dropped provider no longer matches
    token = contact_token(a, SECRET)
    directory.update([])
    assert directory.attribute(_invite(f"sip:{token}@127.0.0.1")) is None


def test_bare_register_contact_forms() -> None:
    for value, user in [("carol", "carol"), ("carol@host", "carol"), ("<sip:carol@h>", "carol")]:
        directory = ProviderDirectory(SECRET)
        directory.update([provider(register_contact=value)])
        match = directory.attribute(_invite(f"sip:{user}@192.0.2.1"))
        assert match is not None and match.rule == MatchRule.CONTACT_USER
