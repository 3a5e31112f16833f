"""Value checks refuse bad input with InvalidValueError and nothing else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.storage import InvalidValueError, digest_ha1
from sipswitch.storage import validation as v

CHECKS: dict[str, Callable[[str], object]] = {
    "sip_username": v.sip_username,
    "login_name": v.login_name,
    "object_name": v.object_name,
    "domain_name": v.domain_name,
    "ip_acl": lambda text: v.ip_acl(text.split(",")),
    "header_line": lambda text: v.custom_headers([v.parse_header_line(text)]),
    "kv_key": v.kv_key,
}


@pytest.mark.parametrize("check", CHECKS, ids=str)
@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_checks_raise_only_invalid_value(check: str, text: str) -> None:
    try:
        CHECKS[check](text)
    except InvalidValueError as exc:
        assert exc.field


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_accepted_header_values_are_one_line(text: str) -> None:
    try:
        ((_, value),) = v.custom_headers([("X-Test", text)])
    except InvalidValueError:
        assert any(c in text for c in "\r\n\0")
        return
    assert not any(c in value for c in "\r\n\0")


def test_examples() -> None:
    assert v.domain_name("Example.COM.") == "example.com"
    assert v.domain_name("[::1]") == "::1"
    assert v.ip_acl(["10.1.2.3/8", "10.0.0.0/8"]) == ("10.0.0.0/8",)
    assert v.parse_header_line("X-Id:  7 ") == ("X-Id", "7")
    for bad in ("a b", "-x.com", "x..com", "é.com"):
        with pytest.raises(InvalidValueError):
            v.domain_name(bad)
    # RFC 2617 §3.5: HA1 of Mufasa / testrealm@host.com / "Circle Of Life".
    hashes = digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert hashes.md5 == "939e7578ed9e3c518a452acee763bce9"
    assert len(hashes.sha256) == 64
