"""URIs: parsing, serialization and RFC 3261 §19.1.4 equivalence."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.sip.address import parse_address
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.uri import AbsoluteUri, SipUri, TelUri, parse_sip_uri, parse_uri

# §19.1.4: each pair is equivalent
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
]  # fmt: skip
# §19.1.4: each pair is not equivalent
DIFFERENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent(a: str, b: str) -> None:
    assert parse_uri(a) == parse_uri(b)
    assert hash(parse_uri(a)) == hash(parse_uri(b))


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different(a: str, b: str) -> None:
    assert parse_uri(a) != parse_uri(b)


def test_full_sip_uri() -> None:
    uri = parse_sip_uri("sips:al%20ice:secret@[2001:db8::1]:5061;transport=tls;lr?X-A=1&B=%3C")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips", "al ice", "secret", "[2001:db8::1]", 5061,
    )  # fmt: skip
    assert uri.transport == "tls"
    assert uri.lr
    assert uri.header("b") == "<"
    assert str(uri) == "sips:al%20ice:secret@[2001:db8::1]:5061;transport=tls;lr?X-A=1&B=%3C"


def test_aor_drops_port_and_params() -> None:
    assert parse_sip_uri("sip:Bob@Example.COM:5070;transport=tcp").aor == "sip:Bob@example.com"


def test_tel_uri() -> None:
    uri = parse_uri("tel:+1-201-555-0123;ext=12")
    assert isinstance(uri, TelUri)
    assert uri.number == "+1-201-555-0123"
    assert uri == parse_uri("tel:+12015550123;ext=12")
    assert str(uri) == "tel:+1-201-555-0123;ext=12"


def test_other_schemes_kept_opaque() -> None:
    uri = parse_uri("urn:service:sos")
    assert isinstance(uri, AbsoluteUri) and str(uri) == "urn:service:sos"


def test_refer_to_with_replaces() -> None:
    addr = parse_address(
        "<sip:bob@example.com?Replaces=12345%40192.168.0.1%3Bto-tag%3D12%3Bfrom-tag%3D34>"
    )
    assert isinstance(addr.uri, SipUri)
    assert addr.uri.header("Replaces") == "12345@192.168.0.1;to-tag=12;from-tag=34"


@pytest.mark.parametrize(
    "text",
    [
        "sip:", "sip:@host", "sip:user@", "sip:user@host:99999", "sip:user@host:abc",
        "sip:user@[::1", "sip:us er@host", "sip:user@host;", "sip:user@ho<st", "nocolon",
        "1sip:x", "sip:user@host?noequals", "tel:", "tel:xyz",
    ],
)  # fmt: skip
def test_malformed(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(text)


def test_non_sip_scheme_is_416() -> None:
    with pytest.raises(SipParseError) as info:
        parse_sip_uri("http://example.com/")
    assert info.value.status == 416


_user = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
_host = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}\Z")
_token = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9-]{0,8}\Z")


@settings(max_examples=300)
@given(
    user=st.none() | _user,
    host=_host,
    port=st.none() | st.integers(1, 65535),
    params=st.lists(
        st.tuples(_token, st.none() | _token), max_size=3, unique_by=lambda p: p[0].lower()
    ),
    secure=st.booleans(),
)
def test_round_trip(
    user: str | None,
    host: str,
    port: int | None,
    params: list[tuple[str, str | None]],
    secure: bool,
) -> None:
    uri = SipUri(host, user, None, port, "sips" if secure else "sip", tuple(params))
    again = parse_uri(str(uri))
    assert again == uri
    assert isinstance(again, SipUri) and again.user == user and again.params == uri.params


@settings(max_examples=500)
@given(st.text(max_size=80))
def test_garbage_gives_parse_error_only(text: str) -> None:
    with contextlib.suppress(SipParseError):
        parse_uri(text)


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ('"a \\"b\\" c" <sip:x@y>', 'a "b" c'),
        ('"back\\\\" <sip:x@y>', "back\\"),
        ('"\\\\\\"" <sip:x@y>', '\\"'),
        ('"" <sip:x@y>', ""),
    ],
)
def test_quoted_display_names(text: str, display: str | None) -> None:
    assert parse_address(text).display_name == display


def test_unterminated_quote_is_an_error() -> None:
    with pytest.raises(SipParseError):
        parse_address('"a \\" <sip:x@y>')
