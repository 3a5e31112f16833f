"""REFER checks before anything runs (RFC 3515 §2.4.1), and the dialplan's view of the target."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.services.transfer.blind import refer_dst
from sipswitch.services.transfer.media import continue_session
from sipswitch.services.transfer.policy import ReferError, TransferMode, check_refer
from sipswitch.sip.message import Request


def _refer(*headers: tuple[str, str]) -> Request:
    base = [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1"),
        ("From", "<sip:ivr@example.com>;tag=a"),
        ("To", "<sip:switch@example.net>;tag=b"),
        ("Call-ID", "c1"),
        ("CSeq", "2 REFER"),
    ]
    return Request("REFER", "sip:switch@example.net", [*base, *headers])


def test_modes_default_to_refusal() -> None:
    assert TransferMode.of(None) is TransferMode.REFUSE
    assert TransferMode.of("") is TransferMode.REFUSE
    assert TransferMode.of("x") is TransferMode.REFUSE
    assert TransferMode.of("p") is TransferMode.PASS_THROUGH
    assert TransferMode.of("c") is TransferMode.CARRY_OUT


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ((), "Missing Refer-To"),
        ((("Refer-To", "<sip:a@x>"), ("Refer-To", "<sip:b@x>")), "Multiple Refer-To"),
        ((("Refer-To", "<sip:a@x"),), "Bad Refer-To"),
        ((("Refer-To", "<sip:a@x>"), ("Refer-Sub", "maybe")), "Bad Refer-To"),
        ((("Refer-To", "<sip:a@x?Replaces=nonsense>"),), "Bad Replaces in Refer-To"),
    ],
)
def test_bad_refers_get_400(headers: tuple[tuple[str, str], ...], reason: str) -> None:
    with pytest.raises(ReferError) as caught:
        check_refer(_refer(*headers))
    assert (caught.value.status, caught.value.reason) == (400, reason)


def test_blind_target_and_subscription() -> None:
    target = check_refer(
        _refer(("Refer-To", "<sip:3000@example.com>"), ("Referred-By", "<sip:ivr@example.com>"))
    )
    assert target.uri_text == "sip:3000@example.com" and target.replaces is None
    assert target.referred_by == "<sip:ivr@example.com>" and target.subscribe
    assert refer_dst(target) == "3000"
    assert not check_refer(_refer(("Refer-To", "<sip:a@x>"), ("Refer-Sub", "false"))).subscribe


def test_attended_target_has_replaces() -> None:
    target = check_refer(
        _refer(("Refer-To", "<sip:b@x?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>"))
    )
    assert target.replaces is not None
    assert (target.replaces.call_id, target.replaces.to_tag, target.replaces.from_tag) == (
        "abc@h",
        "1",
        "2",
    )


def test_tel_targets_are_not_rewritten() -> None:
    target = check_refer(_refer(("Refer-To", "<tel:+19005551234>")))
    assert target.uri_text == "tel:+19005551234"  # never "sip:tel:..."
    assert refer_dst(target) == "+19005551234"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.sampled_from(["Refer-To", "Refer-Sub", "Referred-By"]))
def test_check_refer_only_raises_refer_error(value: str, name: str) -> None:
    value = "".join(ch for ch in value if ch not in "\r\n")
    headers = [("Refer-To", "<sip:a@x>")] if name != "Refer-To" else []
    try:
        check_refer(_refer(*headers, (name, value)))
    except ReferError as exc:
        assert exc.status == 400


def test_reoffer_keeps_the_session_origin() -> None:
    seen = b"v=0\r\no=ref 7 3 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    seen += b"m=audio 4000 RTP/AVP 0\r\n"
    new = seen.replace(b"o=ref 7 3", b"o=new 9 1").replace(b"4000", b"5000")
    out = continue_session(seen, new)
    assert b"o=ref 7 4 IN IP4 10.0.0.1" in out and b"m=audio 5000" in out
    assert continue_session(None, new) == new
    assert continue_session(b"garbage", new) == new
