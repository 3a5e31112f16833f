"""Dial-string parser: SIPSorcery examples, every option, every error with its column."""

from __future__ import annotations

import pytest

from sipswitch.services.dialplan import (
    MAX_LEGS,
    DialOptions,
    DialPlan,
    DialStringError,
    FlowTarget,
    Group,
    LegSpec,
    LocalTarget,
    ProviderTarget,
    RedirectMode,
    TransferMode,
    UriTarget,
    parse_dial_string,
)
from sipswitch.sip.uri import parse_sip_uri

PROVIDERS = ("Provider1", "voip")


def served(host: str) -> bool:
    return host == "example.com"


def parse(text: str, dst: str = "555") -> DialPlan:
    return parse_dial_string(text, providers=PROVIDERS, is_local_domain=served, dst=dst)


def one(text: str) -> LegSpec:
    plan = parse(text)
    assert len(plan.groups) == 1
    assert len(plan.groups[0].legs) == 1
    return plan.groups[0].legs[0]


def test_sipsorcery_example() -> None:
    plan = parse("201@local&555@provider1[tr=c]|voicemail@flow")
    assert plan == DialPlan(
        (
            Group(
                (
                    LegSpec(LocalTarget("201", "local")),
                    LegSpec(
                        ProviderTarget("555", "Provider1"),
                        DialOptions(transfer=TransferMode.CONSUME),
                    ),
                )
            ),
            Group((LegSpec(FlowTarget("voicemail")),)),
        )
    )
    assert str(plan) == "201@local&555@Provider1[tr=c]|voicemail@flow"


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("201@local", LocalTarget("201", "local")),
        ("201@LOCAL", LocalTarget("201", "local")),
        ("alice@example.com", LocalTarget("alice", "example.com")),
        ("alice@Example.COM", LocalTarget("alice", "example.com")),
        ("sip:alice@example.com", LocalTarget("alice", "example.com")),
        ("sip:alice@local", LocalTarget("alice", "local")),
        ("0123@provider1", ProviderTarget("0123", "Provider1")),
        ("0123@VOIP", ProviderTarget("0123", "voip")),
        ("provider1", ProviderTarget("555", "Provider1")),
        ("local", LocalTarget("555", "local")),
        ("example.com", LocalTarget("555", "example.com")),
        ("voicemail@flow", FlowTarget("voicemail")),
        ("a%20b@local", LocalTarget("a b", "local")),
        ("%2B44@provider1", ProviderTarget("+44", "Provider1")),
        ("bob@host.net", UriTarget(parse_sip_uri("sip:bob@host.net"))),
        ("sip:bob@host.net", UriTarget(parse_sip_uri("sip:bob@host.net"))),
        ("sips:bob@host.net", UriTarget(parse_sip_uri("sips:bob@host.net"))),
        ("sip:host.net", UriTarget(parse_sip_uri("sip:host.net"))),
        ("sip:alice@example.com:5070", UriTarget(parse_sip_uri("sip:alice@example.com:5070"))),
        ("sip:1@10.0.0.1:5060", UriTarget(parse_sip_uri("sip:1@10.0.0.1:5060"))),
        ("sip:1@[2001:db8::1]:5060", UriTarget(parse_sip_uri("sip:1@[2001:db8::1]:5060"))),
        ("1@[2001:db8::1]", UriTarget(parse_sip_uri("sip:1@[2001:db8::1]"))),
        (
            "sip:1@host;transport=tcp?subject=hi",
            UriTarget(parse_sip_uri("sip:1@host;transport=tcp?subject=hi")),
        ),
    ],
)
def test_targets(text: str, target: object) -> None:
    assert one(text).target == target


def test_uri_params_and_options_together() -> None:
    leg = one("sip:1@host;transport=tcp[dt=5]")
    assert leg.target == UriTarget(parse_sip_uri("sip:1@host;transport=tcp"))
    assert isinstance(leg.target, UriTarget)
    assert leg.target.uri.transport == "tcp"
    assert leg.options == DialOptions(delay=5)
    leg = one("sip:1@[::1]:5060[dt=7]")
    assert leg.options.delay == 7
    assert leg.target == UriTarget(parse_sip_uri("sip:1@[::1]:5060"))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("dt=0", DialOptions()),
        ("dt=120", DialOptions(delay=120)),
        ("cd=3600", DialOptions(duration_limit=3600)),
        ("rm=m", DialOptions(redirect=RedirectMode.MANUAL)),
        ("rm=F", DialOptions(redirect=RedirectMode.FOLLOW)),
        ("fd=Reception", DialOptions(from_display="Reception")),
        ("fd=John%20Smith", DialOptions(from_display="John Smith")),
        ("fd= Jo ", DialOptions(from_display="Jo")),
        ("fu=0044123", DialOptions(from_user="0044123")),
        ("fh=Sip.Example.org", DialOptions(from_host="sip.example.org")),
        ("fh=192.0.2.1", DialOptions(from_host="192.0.2.1")),
        ("tr=n", DialOptions(transfer=TransferMode.REJECT)),
        ("tr=p", DialOptions(transfer=TransferMode.PASS_THROUGH)),
        ("tr=C", DialOptions(transfer=TransferMode.CONSUME)),
        ("ni=true", DialOptions(no_183_relay=True)),
        ("ni=1", DialOptions(no_183_relay=True)),
        ("ni=yes", DialOptions(no_183_relay=True)),
        ("ni", DialOptions(no_183_relay=True)),
        ("ni=false", DialOptions(no_183_relay=False)),
        ("ma=false", DialOptions(mangle_sdp=False)),
        ("ma=0", DialOptions(mangle_sdp=False)),
        ("ma=NO", DialOptions(mangle_sdp=False)),
        ("ma=true", DialOptions(mangle_sdp=True)),
        ("dr=5", DialOptions(reinvite_delay=5)),
        ("DT=3", DialOptions(delay=3)),
        (
            " dt=1 , cd=2,rm=m,fd=A,fu=b,fh=h,tr=p,ni=1,ma=0,dr=3 ",
            DialOptions(
                1, 2, RedirectMode.MANUAL, "A", "b", "h", TransferMode.PASS_THROUGH, True, False, 3
            ),
        ),
    ],
)
def test_options(options: str, expected: DialOptions) -> None:
    assert one(f"1@provider1[{options}]").options == expected


def test_canonical_options_string() -> None:
    opts = DialOptions(
        1, 2, RedirectMode.MANUAL, "A b", "u", "h", TransferMode.CONSUME, True, False, 3
    )
    assert str(opts) == "[dt=1,cd=2,rm=m,fd=A%20b,fu=u,fh=h,tr=c,ni=true,ma=false,dr=3]"
    assert str(DialOptions()) == ""


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("1@provider1[xx=1]", "unknown option 'xx'", 13),
        ("1@provider1[dt=1,zz]", "unknown option 'zz'", 18),
        ("1@provider1[dt=121]", "option 'dt' must be an integer 0–120", 13),
        ("1@provider1[dt=-1]", "option 'dt' must be an integer 0–120", 13),
        ("1@provider1[dt=abc]", "option 'dt' must be an integer", 13),
        ("1@provider1[dt]", "option 'dt' needs a value", 13),
        ("1@provider1[cd=0]", "option 'cd' must be an integer 1–86400", 13),
        ("1@provider1[dr=0]", "option 'dr' must be an integer 1–60", 13),
        ("1@provider1[rm=x]", "option 'rm' must be 'f' or 'm'", 13),
        ("1@provider1[tr=x]", "option 'tr' must be 'n', 'p' or 'c'", 13),
        ("1@provider1[ni=maybe]", "option 'ni' must be true or false", 13),
        ("1@provider1[ma=2]", "option 'ma' must be true or false", 13),
        ("1@provider1[fh=a b]", "option 'fh' must be a host name", 13),
        ("1@provider1[fd=]", "option 'fd' needs a value", 13),
        ("1@provider1[fd=a%0Db]", "control character", 16),
        ("1@provider1[fd=%zz]", "bad %-escape", 16),
        ('1@provider1[fd=a"b]', "option 'fd'", 13),
        ("1@provider1[dt=1,dt=2]", "duplicate option 'dt'", 18),
        ("1@provider1[]", "empty option", 13),
        ("1@provider1[dt=1,]", "empty option", 18),
        ("1@provider1[dt=1", "unclosed '['", 12),
        ("1@provider1[dt=1&2@local", "unclosed '['", 12),
        ("1@provider1[dt=[1]]", "unclosed '['", 12),
        ("1@provider1]", "unbalanced ']'", 12),
        ("1@provider1[dt=1]x", "unexpected text after options", 18),
        ("1@provider1&&2@local", "empty leg", 13),
        ("1@provider1 & ", "empty leg", 14),
        ("&1@local", "empty leg", 1),
        ("1@local||2@local", "empty leg", 9),
        ("[dt=1]", "empty leg", 1),
        ("1@local&@provider1", "empty user", 9),
        ("unknownprov", "unknown provider 'unknownprov'", 1),
        ("1@local|flow", "unknown provider 'flow'", 9),
        ("1@local;transport=tcp", "'local' legs take no port or URI parameters", 1),
        ("1@provider1:5060", "'provider1' legs take no port or URI parameters", 1),
        ("sips:1@local", "'local' legs take no port or URI parameters", 1),
        ("tel:+4412345", "unsupported URI scheme 'tel'", 1),
        ("http://x", "unsupported URI scheme 'http'", 1),
        ("sip:1@bad host", "bad SIP URI", 1),
        ("1 2@local", "bad character in user", 1),
        ("%FF@local", "not UTF-8", 1),
        ("%0A@local", "control character", 1),
        ("a%2@local", "bad %-escape", 2),
        ("x" * 5000, "longer than 4096", 4097),
    ],
)
def test_errors(text: str, message: str, column: int) -> None:
    with pytest.raises(DialStringError) as info:
        parse(text)
    assert message in str(info.value)
    assert info.value.column == column
    assert f"(column {column})" in str(info.value)


def test_error_names_option() -> None:
    with pytest.raises(DialStringError) as info:
        parse("1@local[dt=999]")
    assert info.value.option == "dt"


def test_bare_provider_needs_dialled_number() -> None:
    with pytest.raises(DialStringError, match="needs a dialled number"):
        parse("provider1", dst="")


def test_empty_dial_string_is_an_empty_plan() -> None:
    assert parse("") == DialPlan()
    assert parse("  \t ") == DialPlan()
    assert not parse("")
    assert str(parse("")) == ""


def test_whitespace_around_separators() -> None:
    assert parse(" 1@local  &  2@local | 3@local [dt=1] ") == parse("1@local&2@local|3@local[dt=1]")


def test_duplicates_dropped_first_kept() -> None:
    plan = parse("1@provider1[dt=5]&1@PROVIDER1&2@local|1@provider1|sip:a@h&sip:a@H")
    assert str(plan) == "1@Provider1[dt=5]&2@local|sip:a@h"
    # sip:alice@example.com is the same hosted account as alice@example.com
    assert str(parse("alice@example.com&sip:alice@example.com")) == "alice@example.com"


def test_leg_limit() -> None:
    ok = "&".join(f"{i}@local" for i in range(MAX_LEGS))
    assert len(parse(ok).legs) == MAX_LEGS
    too_many = ok + "|99@local"
    with pytest.raises(DialStringError, match=f"more than {MAX_LEGS} legs") as info:
        parse(too_many)
    assert info.value.column == len(ok) + 2


def test_reserved_names_win_over_providers() -> None:
    plan = parse_dial_string("1@local&2@flow", providers=["local", "flow"])
    assert [leg.target for leg in plan.legs] == [LocalTarget("1"), FlowTarget("2")]


def test_unknown_providers_mode_for_stored_templates() -> None:
    plan = parse_dial_string("anything&1@other", providers=None, dst="5")
    assert [leg.target for leg in plan.legs] == [
        ProviderTarget("5", "anything"),
        ProviderTarget("1", "other"),
    ]


def test_provider_case_and_canonical_string() -> None:
    assert str(parse("0044%20123@PROVIDER1")) == "0044%20123@Provider1"


def test_uri_user_escaping_in_canonical_string() -> None:
    plan = parse("sip:a%26b@host.net")
    assert plan.legs[0].target == UriTarget(parse_sip_uri("sip:a%26b@host.net"))
    assert str(plan) == "sip:a%26b@host.net"
    assert parse(str(plan)) == plan
