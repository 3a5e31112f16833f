"""Variable substitution, and that caller-controlled values can never become dial-string syntax."""

from __future__ import annotations

import pytest

from sipswitch.services.dialplan import (
    CallContext,
    DialOptions,
    DialStringError,
    LocalTarget,
    ProviderTarget,
    expand_dial_string,
    substitute,
    template_variables,
)

CTX = CallContext(
    dst="00441234", from_name="Alice Smith", from_uri_user="alice", from_aor="alice@example.com"
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${dst}@p1", "00441234@p1"),
        ("${exten}@p1", "00441234@p1"),
        ("${EXTEN}@p1", "00441234@p1"),
        ("${dst:2}@p1", "441234@p1"),
        ("${exten:4}@p1", "1234@p1"),
        ("${dst:99}", ""),
        ("${fromuriuser}@local", "alice@local"),
        ("x@p1[fd=${fromname}]", "x@p1[fd=Alice%20Smith]"),
        ("${fromaor}@p1", "alice%40example.com@p1"),
        ("no variables $ here {}", "no variables $ here {}"),
        ("${dst}${dst}", "0044123400441234"),
    ],
)
def test_substitute(template: str, expected: str) -> None:
    assert substitute(template, CTX) == expected


@pytest.mark.parametrize(
    ("template", "message", "column"),
    [
        ("${foo}@p1", "unknown variable '${foo}'", 1),
        ("1@p1&${dst", "unterminated '${'", 6),
        ("${}", "unknown variable '${}'", 1),
        ("${fromname:2}", "only dst/exten take ':N'", 1),
        ("${dst:x}", "unknown variable '${dst:x}'", 1),
        ("${dst:1234}", "unknown variable", 1),
    ],
)
def test_bad_variables(template: str, message: str, column: int) -> None:
    with pytest.raises(DialStringError) as info:
        substitute(template, CTX)
    assert message in str(info.value)
    assert info.value.column == column
    with pytest.raises(DialStringError):
        template_variables(template)


def test_template_variables() -> None:
    assert template_variables("${dst:2}@p1&${fromname}") == ("dst", "fromname")


def test_expand_decodes_values_back() -> None:
    plan = expand_dial_string(
        "${fromuriuser}@local&${dst:2}@p1[fd=${fromname},fu=${fromuriuser}]",
        CTX,
        providers=["p1"],
    )
    assert [leg.target for leg in plan.legs] == [
        LocalTarget("alice"),
        ProviderTarget("441234", "p1"),
    ]
    assert plan.legs[1].options == DialOptions(from_display="Alice Smith", from_user="alice")


@pytest.mark.parametrize(
    "evil",
    [
        "x&sip:1900@premium.example",
        "x|1900@p1",
        "x[tr=p,dt=0]",
        "x]&1900@p1[",
        "x,cd=1",
        "1900@p1",
        "sip:1900@evil.example;maddr=203.0.113.9",
        "x:5060",
        "x?Replaces=abc",
        "${dst}",
        "%26",
        "a\r\nVia: evil",
        "émile 😀",
    ],
)
def test_injection_from_caller_fields_is_inert(evil: str) -> None:
    ctx = CallContext(dst=evil, from_name=evil, from_uri_user=evil, from_aor=evil)
    template = "${fromuriuser}@local&${dst}@p1[fd=${fromname}]"
    if any(ord(ch) < 0x20 for ch in evil):
        with pytest.raises(DialStringError, match="control character"):
            expand_dial_string(template, ctx, providers=["p1"])
        return
    plan = expand_dial_string(template, ctx, providers=["p1"])
    # exactly the two legs the owner wrote, with the value intact as data
    assert [leg.target for leg in plan.legs] == [LocalTarget(evil), ProviderTarget(evil, "p1")]
    assert plan.legs[0].options == DialOptions()
    assert plan.legs[1].options == DialOptions(from_display=evil)


def test_injection_cannot_change_a_uri_host() -> None:
    ctx = CallContext(dst="1@evil.example")
    plan = expand_dial_string("sip:${dst}@trusted.example", ctx)
    target = plan.legs[0].target
    assert str(target) == "sip:1%40evil.example@trusted.example"
    assert target.uri.host == "trusted.example"  # type: ignore[union-attr]
    assert target.uri.user == "1@evil.example"  # type: ignore[union-attr]


def test_substituted_empty_user_is_an_error() -> None:
    with pytest.raises(DialStringError, match="empty user"):
        expand_dial_string("${dst:20}@p1", CTX, providers=["p1"])
