"""Authentication header values: parsing, quoting, round trips and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.sip.auth import (
    AuthParseError,
    Challenge,
    Credentials,
    parse_challenge,
    parse_credentials,
)

# RFC 7616 §3.9.1, folded onto one line as a SIP parser hands it over.
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CREDENTIALS = (
    'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
    'algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, '
    'cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
    'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)


def test_parse_rfc7616_challenge() -> None:
    c = parse_challenge(RFC7616_CHALLENGE)
    assert c.is_digest
    assert c.realm == "http-auth@example.org"
    assert c.qop == ("auth", "auth-int")
    assert c.algorithm == "SHA-256"
    assert c.nonce == "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
    assert c.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    assert not c.stale
    assert c.extras == ()


def test_parse_rfc7616_credentials() -> None:
    c = parse_credentials(RFC7616_CREDENTIALS)
    assert c.username == "Mufasa"
    assert c.uri == "/dir/index.html"
    assert c.nc == "00000001"
    assert c.nc_value == 1
    assert c.qop == "auth"
    assert c.cnonce == "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    assert c.response == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_challenge_serialization_quotes_per_rfc() -> None:
    c = Challenge(
        realm="atlanta.com",
        domain="sip:ss1.carrier.com",
        nonce="abc",
        opaque="xyz",
        stale=True,
        algorithm="SHA-256",
        qop=("auth", "auth-int"),
    )
    assert str(c) == (
        'Digest realm="atlanta.com", domain="sip:ss1.carrier.com", nonce="abc", opaque="xyz", '
        'stale=true, algorithm=SHA-256, qop="auth,auth-int"'
    )


def test_credentials_serialization_quotes_per_rfc() -> None:
    c = Credentials(
        username="bob",
        realm="biloxi.com",
        nonce="n",
        uri="sip:bob@biloxi.com",
        response="0123abcd",
        algorithm="MD5",
        cnonce="c",
        opaque="o",
        qop="auth",
        nc="0000000a",
    )
    assert str(c) == (
        'Digest username="bob", realm="biloxi.com", nonce="n", uri="sip:bob@biloxi.com", '
        'response="0123abcd", algorithm=MD5, cnonce="c", opaque="o", qop=auth, nc=0000000a'
    )


def test_escaping_round_trip() -> None:
    c = Credentials(username='a"b\\c', realm="r é", nonce="n", uri="u", response="r")
    text = str(c)
    assert 'username="a\\"b\\\\c"' in text
    assert parse_credentials(text) == c


@pytest.mark.parametrize(
    "text",
    [
        'digest REALM="r", NONCE="n", QOP="auth"',
        'Digest   realm = "r" ,nonce="n",qop=auth',
        'DIGEST realm="r",, ,nonce="n", qop="auth"',
        '\tDigest realm="r", nonce=n, qop= "auth" ',
        'Digest realm=r, nonce="n", qop="auth,"',
    ],
)
def test_challenge_is_liberal(text: str) -> None:
    c = parse_challenge(text)
    assert (c.realm, c.nonce, c.qop) == ("r", "n", ("auth",))


def test_credentials_liberal_forms() -> None:
    c = parse_credentials('Digest username=bob, nc="00000002", qop="auth", algorithm="md5"')
    assert (c.username, c.nc, c.qop, c.algorithm) == ("bob", "00000002", "auth", "md5")
    assert str(c) == 'Digest username="bob", algorithm=md5, qop=auth, nc=00000002'
    assert parse_credentials('Digest username="x", nc=1').nc_value == 1


def test_bare_base64_nonce_and_stale_case() -> None:
    c = parse_challenge("Digest realm=a.b, nonce=YWJj+/d==, stale=TRUE, algorithm=MD5-sess")
    assert c.nonce == "YWJj+/d=="
    assert c.stale is True
    assert parse_challenge(str(c)) == c


def test_unknown_params_kept() -> None:
    c = parse_challenge('Digest realm="r", Charset=UTF-8, x-note="a, b"')
    assert c.extras == (("charset", "UTF-8"), ("x-note", "a, b"))
    assert c.param("CHARSET") == "UTF-8"
    assert str(c) == 'Digest realm="r", charset=UTF-8, x-note="a, b"'
    d = parse_credentials('Digest username="u", auts="abc"')
    assert d.param("auts") == "abc"


def test_other_scheme() -> None:
    c = parse_challenge('Bearer realm="example", scope="openid"')
    assert not c.is_digest
    assert c.param("scope") == "openid"


def test_username_star() -> None:
    c = parse_credentials("Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm=\"r\"")
    assert c.username == "Jäsøn Doe"
    assert parse_credentials(str(c)) == c


def test_userhash_flag() -> None:
    assert parse_challenge('Digest realm="r", userhash=true').userhash
    assert parse_credentials('Digest username="ab", userhash=TRUE').userhash
    assert str(Credentials(username="ab", userhash=True)) == 'Digest username="ab", userhash=true'


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("", "scheme"),
        ("   ", "scheme"),
        ("Digest", "without parameters"),
        ("Digest ,", "without parameters"),
        ('"Digest" realm="r"', "scheme"),
        ("Digest realm", "expected '='"),
        ('Digest realm="r" nonce="n"', "expected ','"),
        ('Digest realm="r", Basic realm="x"', "expected '='"),
        ('Digest realm="unterminated', "unterminated"),
        ('Digest realm="a\\', "unterminated"),
        ("Digest realm=", "missing value"),
        ("Digest realm=,nonce=x", "value"),
        ('Digest realm="r", realm="s"', "duplicate"),
        ('Digest REALM="r", realm="s"', "duplicate"),
        ("Digest stale=maybe", "stale"),
        ('Digest realm="a\x00b"', "control"),
        ('Digest realm="a\r\nb"', "control"),
        ("Digest realm=a\\b", "value"),
        ('Digest algorithm="SHA 256"', "token"),
        ('Digest qop="auth, a u"', "token"),
        ('Digest qop=""', "qop"),
        ("Digest =x", "name"),
        ("Digest@ realm=r", "after auth scheme"),
    ],
)
def test_challenge_garbage(text: str, fault: str) -> None:
    with pytest.raises(AuthParseError, match=fault):
        parse_challenge(text)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("Digest nc=xyz", "nc"),
        ("Digest nc=123456789", "nc"),
        ('Digest qop="auth,auth-int"', "token"),
        ("Digest username=\"a\", username*=UTF-8''b", "both"),
        ("Digest username*=UTF-8''b, username=\"a\"", "both"),
        ("Digest username*=b", "username\\*"),
        ("Digest username*=KOI8-R''b", "charset"),
        ("Digest username*=UTF-8''%ZZ", "percent"),
        ("Digest username*=UTF-8''%FF", "charset"),
        ("Digest userhash=yes", "userhash"),
    ],
)
def test_credentials_garbage(text: str, fault: str) -> None:
    with pytest.raises(AuthParseError, match=fault):
        parse_credentials(text)


def test_constructors_reject_header_injection() -> None:
    with pytest.raises(ValueError, match="control"):
        Credentials(username="a\r\nVia: evil")
    with pytest.raises(ValueError, match="token"):
        Credentials(qop="auth\r\n")
    with pytest.raises(ValueError, match="nc"):
        Credentials(nc="1\r\n")
    with pytest.raises(ValueError, match="scheme"):
        Challenge(scheme="Digest x")
    with pytest.raises(ValueError, match="extras"):
        Challenge(extras=(("realm", "x"),))


# --- property tests ----------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=20)
_token = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,12}", fullmatch=True)
_hex = st.from_regex(r"[0-9a-f]{1,8}", fullmatch=True)
_extras = st.lists(
    st.tuples(_token.map(str.lower), _text), max_size=3, unique_by=lambda item: item[0]
).map(tuple)


@st.composite
def _challenges(draw: st.DrawFn) -> Challenge:
    extras = tuple(e for e in draw(_extras) if e[0] not in {"realm", "domain", "nonce", "opaque"})
    extras = tuple(e for e in extras if e[0] not in {"stale", "algorithm", "qop", "userhash"})
    return Challenge(
        scheme=draw(_token),
        realm=draw(st.none() | _text),
        domain=draw(st.none() | _text),
        nonce=draw(st.none() | _text),
        opaque=draw(st.none() | _text),
        stale=draw(st.booleans()),
        algorithm=draw(st.none() | _token),
        qop=tuple(draw(st.lists(_token, max_size=3))),
        userhash=draw(st.booleans()),
        extras=extras,
    )


_CRED_KNOWN = {"username", "username*", "realm", "nonce", "uri", "response", "algorithm"}
_CRED_KNOWN |= {"cnonce", "opaque", "qop", "nc", "userhash"}


@st.composite
def _credentials(draw: st.DrawFn) -> Credentials:
    return Credentials(
        scheme=draw(_token),
        username=draw(st.none() | _text),
        realm=draw(st.none() | _text),
        nonce=draw(st.none() | _text),
        uri=draw(st.none() | _text),
        response=draw(st.none() | _text),
        algorithm=draw(st.none() | _token),
        cnonce=draw(st.none() | _text),
        opaque=draw(st.none() | _text),
        qop=draw(st.none() | _token),
        nc=draw(st.none() | _hex),
        userhash=draw(st.booleans()),
        extras=tuple(e for e in draw(_extras) if e[0] not in _CRED_KNOWN),
    )


def _has_params(value: Challenge | Credentials) -> bool:
    return str(value) != value.scheme


@settings(max_examples=300)
@given(_challenges())
def test_challenge_round_trip(challenge: Challenge) -> None:
    if _has_params(challenge):
        assert parse_challenge(str(challenge)) == challenge


@settings(max_examples=300)
@given(_credentials())
def test_credentials_round_trip(credentials: Credentials) -> None:
    if _has_params(credentials):
        assert parse_credentials(str(credentials)) == credentials


_SEEDS = [RFC7616_CHALLENGE, RFC7616_CREDENTIALS, 'Digest realm="a\\"b", nc=1, stale=false']
_ALPHABET = st.sampled_from([*" \t\"\\,=*'%:/abcDIGEST0189\x00\r\nä", "realm=", "nc="])


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(_ALPHABET)
        if action == "insert":
            text = text[:pos] + piece + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + 3 :]
        else:
            text = text[:pos] + piece + text[pos + len(piece) :]
    return text


@settings(max_examples=500)
@given(st.one_of(st.text(max_size=80), _mutated()))
def test_fuzz_parsers_raise_only_auth_parse_error(text: str) -> None:
    for parse in (parse_challenge, parse_credentials):
        try:
            value = parse(text)
        except AuthParseError:
            continue
        # Whatever parses serializes to something that parses back to the same value.
        assert parse(str(value)) == value


@settings(max_examples=400)
@given(
    st.text(alphabet=st.sampled_from('ab=", \t\\\x01;AZ09-_.'), max_size=40),
    st.lists(st.sampled_from(["a=1", 'b="x y"', "c=z", 'd=""', 'e="q\\""', ",", " "]), max_size=6),
)
def test_the_fast_param_path_agrees_with_the_careful_one(noise: str, pieces: list[str]) -> None:
    """Whatever the fast path accepts, the careful parser reads the same way."""
    from sipswitch.sip import auth

    for text in (noise, ", ".join(pieces), ",".join(pieces) + noise):
        fast = auth._fast_params(text, 0)
        if fast is None:
            continue
        assert auth._careful_params(text, 0, "Digest") == fast
