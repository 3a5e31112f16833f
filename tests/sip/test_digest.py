"""Digest computation, the stateless-nonce server and the client side."""

from __future__ import annotations

import dataclasses
import itertools
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipswitch.sip.auth import Challenge, Credentials, parse_challenge, parse_credentials
from sipswitch.sip.digest import (
    Algorithm,
    AuthResult,
    DigestClient,
    DigestServer,
    NonceCounter,
    NonceCountGuard,
    Qop,
    build_credentials,
    choose_challenge,
    compute_ha1,
    compute_response,
    digest_hex,
    hash_username,
    uri_matches,
)

NOW = 1_700_000_000.0
SECRET = b"0123456789abcdef0123456789abcdef"
REALM = "sip.example.com"
USERS = {"alice": "s3cret", 'bo"b\\': "pässwörd"}
R_URI = "sip:sip.example.com"


def lookup(username: str, realm: str, algorithm: Algorithm) -> str | None:
    password = USERS.get(username)
    return None if password is None else compute_ha1(username, realm, password, algorithm)


def make_server(**kwargs: object) -> DigestServer:
    counter = itertools.count()
    return DigestServer(
        REALM,
        SECRET,
        random_bytes=lambda n: next(counter).to_bytes(n, "big"),
        **kwargs,  # type: ignore[arg-type]
    )


def answer(
    challenge: Challenge,
    *,
    username: str = "alice",
    password: str | None = None,
    nc: int = 1,
    uri: str = R_URI,
    method: str = "REGISTER",
) -> Credentials:
    return build_credentials(
        challenge,
        username=username,
        password=USERS.get(username, "x") if password is None else password,
        method=method,
        uri=uri,
        nc=nc,
        cnonce="0a4f113b",
    )


def verify(server: DigestServer, creds: Credentials, *, now: float = NOW, **kw: object) -> str:
    args: dict[str, object] = {"method": "REGISTER", "request_uri": R_URI} | kw
    return server.verify(creds, now=now, lookup_ha1=lookup, **args)  # type: ignore[arg-type]


# --- RFC test vectors ----------------------------------------------------------------------------


def test_rfc2617_example() -> None:
    """RFC 2617 §3.5: Mufasa / "Circle Of Life"."""
    ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life", Algorithm.MD5)
    response = compute_response(
        ha1,
        algorithm=Algorithm.MD5,
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples_through_the_client(algorithm: str, expected: str) -> None:
    """RFC 7616 §3.9.1, driven from the challenge header to the credentials header."""
    challenge = parse_challenge(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
    )
    creds = build_credentials(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        nc=1,
        cnonce=RFC7616_CNONCE,
    )
    assert creds.response == expected
    assert str(creds) == (
        f'Digest username="Mufasa", realm="http-auth@example.org", nonce="{RFC7616_NONCE}", '
        f'uri="/dir/index.html", response="{expected}", algorithm={algorithm}, '
        f'cnonce="{RFC7616_CNONCE}", opaque="{RFC7616_OPAQUE}", qop=auth, nc=00000001'
    )


def test_sha512_256_known_answer() -> None:
    if not Algorithm.SHA512_256.available:
        pytest.skip("hashlib lacks sha512_256")
    # FIPS 180-4 example "abc" for SHA-512/256.
    assert digest_hex(Algorithm.SHA512_256, "abc") == (
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    )


def test_formulas_for_rfc2069_sess_and_auth_int() -> None:
    md5 = Algorithm.MD5
    ha1 = compute_ha1("u", "r", "p", md5)
    assert ha1 == digest_hex(md5, "u:r:p")
    ha2 = digest_hex(md5, "INVITE:sip:b@x")
    plain = compute_response(ha1, algorithm=md5, nonce="n", method="INVITE", uri="sip:b@x")
    assert plain == digest_hex(md5, f"{ha1}:n:{ha2}")
    sess = compute_response(
        ha1, algorithm=Algorithm.MD5_SESS, nonce="n", method="INVITE", uri="sip:b@x",
        qop="auth", nc="00000001", cnonce="c",
    )  # fmt: skip
    ha1_sess = digest_hex(md5, f"{ha1}:n:c")
    assert sess == digest_hex(md5, f"{ha1_sess}:n:00000001:c:auth:{ha2}")
    body = b"v=0\r\n"
    auth_int = compute_response(
        ha1, algorithm=md5, nonce="n", method="INVITE", uri="sip:b@x",
        qop="AUTH-INT", nc="00000001", cnonce="c", body=body,
    )  # fmt: skip
    ha2_int = digest_hex(md5, "INVITE:sip:b@x:" + digest_hex(md5, body))
    assert auth_int == digest_hex(md5, f"{ha1}:n:00000001:c:auth-int:{ha2_int}")
    with pytest.raises(ValueError, match="cnonce"):
        compute_response(ha1, algorithm=Algorithm.MD5_SESS, nonce="n", method="M", uri="u")
    with pytest.raises(ValueError, match="nc"):
        compute_response(ha1, algorithm=md5, nonce="n", method="M", uri="u", qop="auth")


def test_algorithm_names() -> None:
    assert Algorithm.from_param(None) is Algorithm.MD5
    assert Algorithm.from_param("sha-256-SESS") is Algorithm.SHA256_SESS
    assert Algorithm.from_param("SHA-1") is None
    assert Algorithm.SHA512_256_SESS.base is Algorithm.SHA512_256
    assert Algorithm.MD5_SESS.is_session and not Algorithm.MD5.is_session
    assert hash_username("u", "r", Algorithm.SHA256) == digest_hex(Algorithm.SHA256, "u:r")


# --- server flows --------------------------------------------------------------------------------


def test_challenges_offer_sha256_then_md5() -> None:
    server = make_server()
    challenges = server.challenges(NOW)
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert all(c.realm == REALM and c.qop == ("auth",) and not c.stale for c in challenges)
    assert challenges[0].nonce == challenges[1].nonce
    assert server.nonce_issued_at(challenges[0].nonce or "") == NOW
    header = str(challenges[0])
    assert header.startswith(f'Digest realm="{REALM}", nonce="')
    assert parse_challenge(header) == challenges[0]
    assert all(c.stale for c in server.challenges(NOW, stale=True))


def test_nonces_are_unique_per_issue() -> None:
    server = make_server()
    assert server.make_nonce(NOW) != server.make_nonce(NOW)


@pytest.mark.parametrize("index", [0, 1])
def test_challenge_credentials_ok(index: int) -> None:
    server = make_server()
    creds = answer(server.challenges(NOW)[index])
    # Through the wire form, as a real request would carry it.
    assert verify(server, parse_credentials(str(creds)), now=NOW + 1) is AuthResult.OK


@pytest.mark.parametrize("algorithm", [a for a in Algorithm if a.available])
def test_every_algorithm_verifies(algorithm: Algorithm) -> None:
    server = make_server(algorithms=(algorithm,))
    assert verify(server, answer(server.challenges(NOW)[0])) is AuthResult.OK


def test_expired_nonce_is_stale_only_with_correct_response() -> None:
    server = make_server()
    challenge = server.challenges(NOW)[0]
    later = NOW + 300.5
    assert verify(server, answer(challenge), now=later) is AuthResult.STALE
    wrong = answer(challenge, password="nope")
    assert verify(server, wrong, now=later) is AuthResult.WRONG_RESPONSE
    assert verify(server, answer(challenge), now=NOW + 299) is AuthResult.OK


def test_configurable_lifetime() -> None:
    server = make_server(nonce_lifetime=60.0)
    creds = answer(server.challenges(NOW)[0])
    assert verify(server, creds, now=NOW + 61) is AuthResult.STALE


def test_replayed_nc_is_refused() -> None:
    server = make_server()
    challenge = server.challenges(NOW)[0]
    assert verify(server, answer(challenge, nc=1)) is AuthResult.OK
    assert verify(server, answer(challenge, nc=1)) is AuthResult.REPLAY
    assert verify(server, answer(challenge, nc=3)) is AuthResult.OK
    assert verify(server, answer(challenge, nc=2)) is AuthResult.REPLAY
    assert verify(server, answer(challenge, nc=4)) is AuthResult.OK


def test_wrong_responses_do_not_advance_nc() -> None:
    server = make_server()
    challenge = server.challenges(NOW)[0]
    bad = answer(challenge, nc=100, password="guess")
    assert verify(server, bad) is AuthResult.WRONG_RESPONSE
    assert verify(server, answer(challenge, nc=1)) is AuthResult.OK


def test_tampered_nonce_is_bad() -> None:
    server = make_server()
    challenge = server.challenges(NOW)[0]
    nonce = challenge.nonce or ""
    flipped = nonce[:5] + ("A" if nonce[5] != "A" else "B") + nonce[6:]
    # The last character carries two padding bits: flipping one keeps the decoded bytes.
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    respelled = nonce[:-1] + alphabet[alphabet.index(nonce[-1]) ^ 1]
    junk = ("not a nonce at all!", "x" * 43, "é" * 43, nonce[:-1], nonce + "A")
    for bad in (flipped, respelled, *junk):
        forged = answer(dataclasses.replace(challenge, nonce=bad))
        assert verify(server, forged) is AuthResult.BAD_NONCE
    other = DigestServer(REALM, b"another secret, 16+ bytes").challenges(NOW)[0]
    assert verify(server, answer(other)) is AuthResult.BAD_NONCE


def test_nonce_from_the_future_is_bad() -> None:
    server = make_server()
    creds = answer(server.challenges(NOW + 3600)[0])
    assert verify(server, creds) is AuthResult.BAD_NONCE


def test_nonce_bound_to_client_address() -> None:
    server = make_server()
    challenge = server.challenges(NOW, client_address="192.0.2.1:5060")[0]
    creds = answer(challenge)
    assert verify(server, creds, client_address="192.0.2.9:5060") is AuthResult.BAD_NONCE
    assert verify(server, creds) is AuthResult.BAD_NONCE
    assert verify(server, creds, client_address="192.0.2.1:5060") is AuthResult.OK


def test_unknown_user_looks_like_wrong_password() -> None:
    server = make_server()
    challenge = server.challenges(NOW)[0]
    wrong_password = verify(server, answer(challenge, password="wrong"))
    unknown_user = verify(server, answer(challenge, username="mallory", password="s3cret"))
    assert wrong_password is unknown_user is AuthResult.WRONG_RESPONSE


def test_unknown_user_with_caller_dummy_ha1() -> None:
    """A caller may instead return a dummy HA1 itself; the outcome is the same."""
    server = make_server()
    challenge = server.challenges(NOW)[0]
    dummy = compute_ha1("", "", "dummy", Algorithm.SHA256)

    def lookup_or_dummy(user: str, realm: str, algorithm: Algorithm) -> str | None:
        return lookup(user, realm, algorithm) or dummy

    for creds in (answer(challenge, password="x"), answer(challenge, username="nobody")):
        result = server.verify(
            creds, method="REGISTER", request_uri=R_URI, now=NOW, lookup_ha1=lookup_or_dummy
        )
        assert result is AuthResult.WRONG_RESPONSE


def test_realm_algorithm_and_shape_checks() -> None:
    server = make_server()
    challenge = server.challenges(NOW)[0]
    creds = answer(challenge)
    assert verify(server, dataclasses.replace(creds, realm="evil.com")) is AuthResult.REALM_MISMATCH
    for algorithm in ("SHA-512-256", "SHA-256-sess", "SHA-1"):
        odd = dataclasses.replace(creds, algorithm=algorithm)
        assert verify(server, odd) is AuthResult.UNSUPPORTED_ALGORITHM
    for broken in (
        dataclasses.replace(creds, scheme="Basic"),
        dataclasses.replace(creds, response=None),
        dataclasses.replace(creds, username=None),
        dataclasses.replace(creds, qop=None, nc=None, cnonce=None),
        dataclasses.replace(creds, qop="auth-int"),
        dataclasses.replace(creds, nc=None),
        dataclasses.replace(creds, cnonce=None),
        dataclasses.replace(creds, userhash=True),
    ):
        assert verify(server, broken) is AuthResult.MALFORMED


def test_uri_must_match_request_uri() -> None:
    server = make_server()
    challenge = server.challenges(NOW)[0]
    creds = answer(challenge, uri="sip:bob@example.com;transport=tcp")
    assert (
        verify(server, creds, request_uri="sip:bob@other.example.com;transport=tcp")
        is AuthResult.URI_MISMATCH
    )
    assert verify(server, creds, request_uri="SIP:bob@EXAMPLE.com;TRANSPORT=TCP") is AuthResult.OK


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sip:alice@example.com", "SIP:alice@Example.COM"),
        ("sip:alice@example.com;transport=udp;lr", "sip:alice@example.com;lr;transport=UDP"),
        ("sip:%61lice@example.com", "sip:alice@example.com"),
        ("sip:example.com?subject=x&priority=u", "sip:example.com?priority=u&subject=x"),
        ("tel:+1-201-555-0123", "TEL:+1-201-555-0123"),
        ("/dir/index.html", "/dir/index.html"),
        (" sip:a@b ", "sip:a@b"),
    ],
)
def test_uri_matches_leniently(a: str, b: str) -> None:
    assert uri_matches(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sip:alice@example.com", "sip:Alice@example.com"),
        ("sip:alice@example.com", "sip:alice@example.com:5060"),
        ("sip:alice@example.com", "sips:alice@example.com"),
        ("sip:alice@example.com", "sip:alice@example.com;transport=tcp"),
        ("sip:alice@example.com", "sip:example.com"),
        ("sip:a%40b@example.com", "sip:a@example.com"),
        ("sip:%ff@x", "sip:%fe@x"),
        ("sip:x?h=1", "sip:x"),
        ("sip:x;a%3Db", "sip:x;a=b"),
        ("sip:x;lr", "sip:x;lr="),
        ("/a", "/b"),
    ],
)
def test_uri_mismatch_is_safe(a: str, b: str) -> None:
    assert not uri_matches(a, b)


def test_rfc2069_mode_when_allowed() -> None:
    server = make_server(algorithms=(Algorithm.MD5,), qop=(), require_qop=False)
    challenge = server.challenges(NOW)[0]
    assert challenge.qop == ()
    creds = answer(challenge)
    assert creds.qop is None and creds.nc is None and creds.cnonce is None
    assert verify(server, creds) is AuthResult.OK


def test_auth_int_with_body() -> None:
    server = make_server(qop=(Qop.AUTH_INT, Qop.AUTH))
    challenge = server.challenges(NOW)[0]
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    creds = build_credentials(
        challenge, username="alice", password="s3cret", method="INVITE", uri=R_URI, nc=1,
        cnonce="c", body=body,
    )  # fmt: skip
    assert creds.qop == "auth-int"
    assert verify(server, creds, method="INVITE", body=body) is AuthResult.OK
    creds2 = dataclasses.replace(creds, nc="00000002")
    assert verify(server, creds2, method="INVITE", body=b"tampered") is AuthResult.WRONG_RESPONSE


def test_server_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="secret"):
        DigestServer(REALM, b"short")
    with pytest.raises(ValueError, match="lifetime"):
        DigestServer(REALM, SECRET, nonce_lifetime=0)
    with pytest.raises(ValueError, match="algorithms"):
        DigestServer(REALM, SECRET, algorithms=())
    with pytest.raises(ValueError, match="qop"):
        DigestServer(REALM, SECRET, qop=())
    with pytest.raises(ValueError, match="range"):
        make_server().make_nonce(-1.0)


# --- replay guard --------------------------------------------------------------------------------


def test_guard_is_bounded_and_never_reopens_replays() -> None:
    guard = NonceCountGuard(lifetime=300.0, max_entries=2)
    assert guard.check("a", NOW, 1, NOW) is AuthResult.OK
    assert guard.check("b", NOW + 1, 1, NOW + 1) is AuthResult.OK
    assert guard.check("c", NOW + 2, 1, NOW + 2) is AuthResult.OK
    assert len(guard) == 2
    # "a" was evicted: it cannot be replayed, its client is re-challenged.
    assert guard.check("a", NOW, 1, NOW + 3) is AuthResult.STALE
    assert guard.check("a", NOW, 2, NOW + 3) is AuthResult.STALE
    assert guard.check("c", NOW + 2, 1, NOW + 3) is AuthResult.REPLAY
    assert guard.check("d", NOW + 3, 1, NOW + 3) is AuthResult.OK


def test_guard_forgets_expired_nonces() -> None:
    guard = NonceCountGuard(lifetime=10.0, max_entries=100)
    for i in range(50):
        assert guard.check(f"n{i}", NOW, 1, NOW) is AuthResult.OK
    assert len(guard) == 50
    assert guard.check("fresh", NOW + 20, 1, NOW + 20) is AuthResult.OK
    assert len(guard) == 1
    assert guard.check("n0", NOW, 2, NOW + 20) is AuthResult.STALE
    with pytest.raises(ValueError, match="positive"):
        NonceCountGuard(10.0, 0)


def test_server_guard_cap() -> None:
    server = make_server(max_tracked_nonces=1)
    first = server.challenges(NOW)[0]
    second = server.challenges(NOW + 1)[0]
    assert verify(server, answer(first), now=NOW + 1) is AuthResult.OK
    assert verify(server, answer(second), now=NOW + 1) is AuthResult.OK
    assert verify(server, answer(first, nc=1), now=NOW + 2) is AuthResult.STALE


# --- client side ---------------------------------------------------------------------------------


def _ch(algorithm: str | None, **kw: object) -> Challenge:
    return Challenge(realm="r", nonce="n", algorithm=algorithm, qop=("auth",), **kw)  # type: ignore[arg-type]


def test_choose_challenge_prefers_sha256() -> None:
    md5, sha = _ch("MD5"), _ch("SHA-256")
    assert choose_challenge([md5, sha]) is sha
    assert choose_challenge([sha, md5]) is sha
    assert choose_challenge([_ch(None), _ch("sha-256-sess")]) == _ch("sha-256-sess")
    assert choose_challenge([_ch("SHA-1"), _ch("MD5")]) == _ch("MD5")
    assert choose_challenge([_ch("SHA-1")]) is None
    assert choose_challenge([Challenge(scheme="Bearer", realm="r", nonce="n")]) is None
    assert choose_challenge([Challenge(realm="r", nonce="n", qop=("auth-conf",))]) is None
    assert choose_challenge([Challenge(realm="r")]) is None
    assert choose_challenge([]) is None


def test_build_credentials_variants() -> None:
    challenge = _ch(None, opaque="op", userhash=True)
    creds = build_credentials(challenge, username="u", password="p", method="M", uri="x",
                              nc=26, cnonce="c")  # fmt: skip
    assert creds.algorithm is None
    assert creds.nc == "0000001a"
    assert creds.opaque == "op"
    assert creds.userhash and creds.username == hash_username("u", "r", Algorithm.MD5)
    ha1 = compute_ha1("u", "r", "p", Algorithm.MD5)
    from_ha1 = build_credentials(challenge, username="u", ha1=ha1, method="M", uri="x",
                                 nc=26, cnonce="c")  # fmt: skip
    assert from_ha1 == creds
    with pytest.raises(ValueError, match="exactly one"):
        build_credentials(challenge, username="u", method="M", uri="x", nc=1, cnonce="c")
    with pytest.raises(ValueError, match="nc"):
        build_credentials(challenge, username="u", password="p", method="M", uri="x", nc=0,
                          cnonce="c")  # fmt: skip
    with pytest.raises(ValueError, match="algorithm"):
        build_credentials(_ch("SHA-1"), username="u", password="p", method="M", uri="x", nc=1,
                          cnonce="c")  # fmt: skip
    with pytest.raises(ValueError, match="qop"):
        build_credentials(Challenge(realm="r", nonce="n", qop=("auth-conf",)), username="u",
                          password="p", method="M", uri="x", nc=1, cnonce="c")  # fmt: skip
    with pytest.raises(ValueError, match="realm"):
        build_credentials(Challenge(nonce="n"), username="u", password="p", method="M",
                          uri="x", nc=1, cnonce="c")  # fmt: skip


def test_nonce_counter() -> None:
    counter = NonceCounter(max_nonces=2)
    assert [counter.next("a"), counter.next("a"), counter.next("b")] == [1, 2, 1]
    assert counter.next("a") == 3
    counter.next("c")  # evicts "b", the least recently used
    assert counter.next("b") == 1


def test_client_against_server_with_stale_rechallenge() -> None:
    server = make_server()
    cnonces = (f"cn{i}" for i in itertools.count())
    client = DigestClient("alice", "s3cret", cnonce_factory=lambda: next(cnonces))
    challenges = server.challenges(NOW)
    first = client.authorize(challenges, method="REGISTER", uri=R_URI)
    second = client.authorize(challenges, method="REGISTER", uri=R_URI)
    assert first is not None and second is not None
    assert (first.algorithm, first.nc, first.cnonce) == ("SHA-256", "00000001", "cn0")
    assert (second.nc, second.cnonce) == ("00000002", "cn1")
    assert verify(server, first) is AuthResult.OK
    assert verify(server, second) is AuthResult.OK
    later = NOW + 400
    third = client.authorize(challenges, method="REGISTER", uri=R_URI)
    assert third is not None
    assert verify(server, third, now=later) is AuthResult.STALE
    fresh = client.authorize(server.challenges(later, stale=True), method="REGISTER", uri=R_URI)
    assert fresh is not None and fresh.nc == "00000001"
    assert verify(server, fresh, now=later) is AuthResult.OK
    assert client.authorize([Challenge(scheme="Bearer", realm="x")], method="M", uri="u") is None


# --- property: whatever the client builds, the server accepts ----------------------------------

_chars = st.characters(exclude_categories=("Cc", "Cs"))
_any_but_surrogates = st.characters(exclude_categories=["Cs"])
_wild = st.text(_chars, min_size=1, max_size=16) | st.sampled_from(['"', "\\", '\\"', "ü€😀"])


@settings(max_examples=200, deadline=None)
@given(
    username=_wild,
    realm=_wild,
    password=st.text(_any_but_surrogates, max_size=16),
    method=st.from_regex(r"[A-Z][A-Za-z0-9\-.!%*_+`'~]{0,9}", fullmatch=True),
    uri=st.text(_chars, min_size=1, max_size=30),
    algorithm=st.sampled_from([a for a in Algorithm if a.available]),
    nc=st.integers(1, 2**32 - 1),
    body=st.none() | st.binary(max_size=20),
)
def test_client_credentials_always_verify(
    *,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    algorithm: Algorithm,
    nc: int,
    body: bytes | None,
) -> None:
    server = DigestServer(realm, SECRET, algorithms=(algorithm,), qop=(Qop.AUTH, Qop.AUTH_INT))
    challenge = parse_challenge(str(server.challenges(NOW)[0]))
    creds = build_credentials(
        challenge, username=username, password=password, method=method, uri=uri, nc=nc,
        cnonce="c", body=body,
    )  # fmt: skip
    wire = parse_credentials(str(creds))
    assert wire == creds

    def lookup_one(user: str, user_realm: str, alg: Algorithm) -> str | None:
        return compute_ha1(user, user_realm, password, alg) if user == username else None

    result = server.verify(
        wire, method=method, request_uri=uri, now=NOW + 5, lookup_ha1=lookup_one, body=body
    )
    assert result is AuthResult.OK


def test_challenge_texts_are_the_challenges_with_a_fresh_nonce() -> None:
    server = DigestServer(REALM, SECRET, algorithms=(Algorithm.SHA256, Algorithm.MD5))
    for stale in (False, True):
        texts = server.challenge_texts(NOW, client_address="192.0.2.1", stale=stale)
        assert [alg for alg, _ in texts] == [Algorithm.SHA256, Algorithm.MD5]
        nonce = parse_challenge(texts[0][1]).nonce
        assert nonce is not None and server.nonce_issued_at(nonce, "192.0.2.1") == NOW
        expected = server._challenges(nonce, stale)
        assert [text for _, text in texts] == [str(c) for c in expected]
    first = server.challenge_texts(NOW)[0][1]
    assert parse_challenge(first).nonce != parse_challenge(server.challenge_texts(NOW)[0][1]).nonce
