"""HTTP digest for SIP: computation, stateless server nonces and the client side.

Computation follows RFC 7616 §3.4.1–3.4.3 with the algorithms RFC 8760 adds to SIP (MD5,
SHA-256, SHA-512/256 and their ``-sess`` variants), ``qop`` absent (RFC 2069 compatibility),
``auth`` and ``auth-int``. Storage may keep the HA1 (:func:`compute_ha1`) instead of the password;
HA1 differs per hash function, so keep one per :attr:`Algorithm.base`.

:class:`DigestServer` issues nonces that need no storage — ``base64url(timestamp || salt ||
HMAC(secret, timestamp || salt || realm || client address))`` — and keeps only a bounded
highest-nonce-count table to refuse replays. Time is always passed in (``now``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import struct
from collections.abc import Callable, Iterable
from enum import StrEnum
from urllib.parse import unquote_to_bytes

from sipswitch.sip.auth import Challenge, Credentials

__all__ = [
    "Algorithm",
    "AuthResult",
    "DigestClient",
    "DigestServer",
    "Ha1Lookup",
    "NonceCountGuard",
    "NonceCounter",
    "Qop",
    "build_credentials",
    "choose_challenge",
    "compute_ha1",
    "compute_response",
    "digest_hex",
    "hash_username",
    "uri_matches",
]


class Algorithm(StrEnum):
    """Digest algorithms (RFC 7616 §3.3, RFC 8760 §2)."""

    MD5 = "MD5"
    MD5_SESS = "MD5-sess"
    SHA256 = "SHA-256"
    SHA256_SESS = "SHA-256-sess"
    SHA512_256 = "SHA-512-256"
    SHA512_256_SESS = "SHA-512-256-sess"

    @classmethod
    def from_param(cls, value: str | None) -> Algorithm | None:
        """The algorithm named by an ``algorithm`` param (absent means MD5); None if unknown."""
        if value is None:
            return cls.MD5
        wanted = value.strip().lower()
        for member in cls:
            if member.value.lower() == wanted:
                return member
        return None

    @property
    def is_session(self) -> bool:
        return self.value.endswith("-sess")

    @property
    def base(self) -> Algorithm:
        """The non-session variant, which shares the HA1 (and so the stored secret)."""
        return Algorithm(self.value.removesuffix("-sess"))

    @property
    def hash_name(self) -> str:
        return _HASH_NAMES[self.base]

    @property
    def available(self) -> bool:
        """Whether this Python's hashlib implements the hash (SHA-512/256 needs OpenSSL)."""
        try:
            hashlib.new(self.hash_name)
        except ValueError:
            return False
        return True


_HASH_NAMES = {
    Algorithm.MD5: "md5",
    Algorithm.SHA256: "sha256",
    Algorithm.SHA512_256: "sha512_256",
}


class Qop(StrEnum):
    """Quality of protection (RFC 7616 §3.3)."""

    AUTH = "auth"
    AUTH_INT = "auth-int"


def _bytes(part: str | bytes) -> bytes:
    return part if isinstance(part, bytes) else part.encode("utf-8")


def digest_hex(algorithm: Algorithm, *parts: str | bytes) -> str:
    """``H(parts joined by ':')`` as lowercase hex; strings are hashed as UTF-8."""
    return hashlib.new(algorithm.hash_name, b":".join(_bytes(p) for p in parts)).hexdigest()


def compute_ha1(username: str, realm: str, password: str, algorithm: Algorithm) -> str:
    """The storable ``H(username:realm:password)`` (RFC 7616 §3.4.2), for ``algorithm.base``."""
    return digest_hex(algorithm, username, realm, password)


def hash_username(username: str, realm: str, algorithm: Algorithm) -> str:
    """The ``userhash=true`` form of a username: ``H(username:realm)`` (RFC 7616 §3.4.4)."""
    return digest_hex(algorithm, username, realm)


def compute_response(
    ha1: str,
    *,
    algorithm: Algorithm,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes | None = None,
) -> str:
    """The ``response`` value from the stored (non-session) HA1 (RFC 7616 §3.4.1–3.4.3).

    ``nc`` is the hex string exactly as sent. For ``-sess`` algorithms the session key
    ``H(HA1:nonce:cnonce)`` is derived here. ``auth-int`` hashes ``body`` (empty when None).
    """
    if algorithm.is_session:
        if cnonce is None:
            raise ValueError(f"{algorithm} needs a cnonce")
        ha1 = digest_hex(algorithm, ha1, nonce, cnonce)
    if qop is None:
        return digest_hex(algorithm, ha1, nonce, digest_hex(algorithm, method, uri))
    qop_value = Qop(qop.lower())
    if nc is None or cnonce is None:
        raise ValueError("qop needs nc and cnonce")
    if qop_value is Qop.AUTH_INT:
        ha2 = digest_hex(algorithm, method, uri, digest_hex(algorithm, body or b""))
    else:
        ha2 = digest_hex(algorithm, method, uri)
    return digest_hex(algorithm, ha1, nonce, nc, cnonce, qop_value.value, ha2)


# --- server side ---------------------------------------------------------------------------------


class AuthResult(StrEnum):
    """The outcome of verifying credentials. Only ``STALE`` warrants ``stale=true``."""

    OK = "ok"
    STALE = "stale"
    BAD_NONCE = "bad-nonce"
    WRONG_RESPONSE = "wrong-response"
    REPLAY = "replay"
    REALM_MISMATCH = "realm-mismatch"
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    URI_MISMATCH = "uri-mismatch"
    MALFORMED = "malformed"


Ha1Lookup = Callable[[str, str, Algorithm], str | None]
"""``(username, realm, algorithm.base) -> HA1``, or None for an unknown user."""


class NonceCountGuard:
    """The highest nonce-count seen per nonce, in bounded memory (RFC 7616 §3.3 ``nc``).

    Entries leave after the nonce lifetime. When full, the earliest entry is evicted and any
    untracked nonce issued no later than it is answered STALE: a forgotten nonce is never open to
    replay, at worst its client is re-challenged.
    """

    def __init__(self, lifetime: float, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._lifetime = lifetime
        self._max = max_entries
        self._seen: dict[str, tuple[float, int]] = {}
        self._floor = float("-inf")

    def __len__(self) -> int:
        return len(self._seen)

    def check(self, nonce: str, issued_at: float, nc: int, now: float) -> AuthResult:
        """Record ``nc`` for ``nonce`` if it is higher than any before; else REPLAY (or STALE
        for an expired or forgotten nonce)."""
        if now - issued_at > self._lifetime:
            return AuthResult.STALE
        self._expire(now)
        entry = self._seen.get(nonce)
        if entry is None:
            if issued_at <= self._floor:
                return AuthResult.STALE
        elif nc <= entry[1]:
            return AuthResult.REPLAY
        else:
            del self._seen[nonce]
        self._seen[nonce] = (issued_at, nc)
        while len(self._seen) > self._max:
            oldest = next(iter(self._seen))
            self._floor = max(self._floor, self._seen.pop(oldest)[0])
        return AuthResult.OK

    def _expire(self, now: float) -> None:
        while self._seen:
            nonce = next(iter(self._seen))
            if now - self._seen[nonce][0] <= self._lifetime:
                break
            del self._seen[nonce]


_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_MAX_CLOCK_SKEW = 30.0


class DigestServer:
    """Challenges and verifies digest credentials for one realm (RFC 3261 §22.4, RFC 8760 §2.4)."""

    def __init__(
        self,
        realm: str,
        secret: bytes,
        *,
        nonce_lifetime: float = 300.0,
        algorithms: Iterable[Algorithm] = (Algorithm.SHA256, Algorithm.MD5),
        qop: Iterable[Qop] = (Qop.AUTH,),
        require_qop: bool = True,
        max_tracked_nonces: int = 65536,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        if nonce_lifetime <= 0:
            raise ValueError("nonce_lifetime must be positive")
        self.realm = realm
        self.nonce_lifetime = nonce_lifetime
        self.algorithms = tuple(algorithms)
        self.qop = tuple(qop)
        if not self.algorithms or not all(alg.available for alg in self.algorithms):
            raise ValueError("algorithms must be a non-empty list of available algorithms")
        if require_qop and not self.qop:
            raise ValueError("require_qop needs at least one qop option")
        self.require_qop = require_qop
        self._secret = secret
        self._random = random_bytes
        dummy = random_bytes(16).hex()
        self._dummy_ha1 = {alg.base: digest_hex(alg, dummy) for alg in self.algorithms}
        self._guard = NonceCountGuard(nonce_lifetime, max_tracked_nonces)

    def _mac(self, head: bytes, client_address: str | None) -> bytes:
        realm = self.realm.encode("utf-8")
        address = (client_address or "").encode("utf-8")
        msg = head + struct.pack(">I", len(realm)) + realm + address
        return hmac.digest(self._secret, msg, "sha256")[:16]

    def make_nonce(self, now: float, client_address: str | None = None) -> str:
        """A fresh nonce stamped with ``now`` and optionally bound to the client's address."""
        millis = int(now * 1000)
        if not 0 <= millis < 2**64:
            raise ValueError("now is out of range")
        head = struct.pack(">Q", millis) + self._random(8)
        raw = head + self._mac(head, client_address)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def nonce_issued_at(self, nonce: str, client_address: str | None = None) -> float | None:
        """When ``nonce`` was issued, or None if it is not one of ours (bad MAC or shape)."""
        if not _NONCE_RE.fullmatch(nonce):
            return None
        raw = base64.urlsafe_b64decode(nonce + "=")
        if base64.urlsafe_b64encode(raw)[:43] != nonce.encode("ascii"):
            return None  # a non-canonical spelling of the same bytes
        head, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, self._mac(head, client_address)):
            return None
        return float(struct.unpack(">Q", head[:8])[0]) / 1000

    def challenges(
        self, now: float, *, client_address: str | None = None, stale: bool = False
    ) -> tuple[Challenge, ...]:
        """One challenge per algorithm, most preferred first (RFC 8760 §2.4), sharing a nonce."""
        nonce = self.make_nonce(now, client_address)
        qop = tuple(q.value for q in self.qop)
        return tuple(
            Challenge(realm=self.realm, nonce=nonce, stale=stale, algorithm=alg.value, qop=qop)
            for alg in self.algorithms
        )

    def verify(
        self,
        credentials: Credentials,
        *,
        method: str,
        request_uri: str,
        now: float,
        lookup_ha1: Ha1Lookup,
        client_address: str | None = None,
        body: bytes | None = None,
    ) -> AuthResult:
        """Check credentials against a request.

        Unknown users (``lookup_ha1`` returns None) are checked against a dummy HA1, so they
        cost the same and give WRONG_RESPONSE, like a wrong password. STALE is given only for a
        correct response with an expired nonce (RFC 7616 §3.3), and nonce-counts are recorded
        only for correct responses, so guessing cannot poison the replay table.
        """
        c = credentials
        if (
            not c.is_digest
            or c.username is None
            or c.realm is None
            or c.nonce is None
            or c.uri is None
            or c.response is None
            or c.userhash
        ):
            return AuthResult.MALFORMED
        if c.realm != self.realm:
            return AuthResult.REALM_MISMATCH
        algorithm = Algorithm.from_param(c.algorithm)
        if algorithm is None or algorithm not in self.algorithms:
            return AuthResult.UNSUPPORTED_ALGORITHM
        issued_at = self.nonce_issued_at(c.nonce, client_address)
        if issued_at is None or issued_at - now > _MAX_CLOCK_SKEW:
            return AuthResult.BAD_NONCE
        if c.qop is None:
            if self.require_qop or algorithm.is_session:
                return AuthResult.MALFORMED
        elif c.qop.lower() not in self.qop or c.nc is None or c.cnonce is None:
            return AuthResult.MALFORMED
        if not uri_matches(c.uri, request_uri):
            return AuthResult.URI_MISMATCH
        ha1 = lookup_ha1(c.username, c.realm, algorithm.base)
        expected = compute_response(
            ha1 if ha1 is not None else self._dummy_ha1[algorithm.base],
            algorithm=algorithm,
            nonce=c.nonce,
            method=method,
            uri=c.uri,
            qop=c.qop,
            nc=c.nc,
            cnonce=c.cnonce,
            body=body,
        )
        matches = hmac.compare_digest(expected.encode(), c.response.lower().encode("utf-8"))
        if not matches or ha1 is None:
            return AuthResult.WRONG_RESPONSE
        if now - issued_at > self.nonce_lifetime:
            return AuthResult.STALE
        if c.qop is None:
            return AuthResult.OK
        return self._guard.check(c.nonce, issued_at, int(c.nc or "0", 16), now)


def _normalize_uri(uri: str) -> tuple[object, ...]:
    """A comparison key for a request-URI (RFC 3261 §19.1.4, simplified and strict).

    Case is ignored where the RFC ignores it, escapes are decoded per component and parameter
    order is ignored; nothing is dropped, so URIs that differ in content never match.
    """
    text = uri.strip()
    scheme, sep, rest = text.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme):
        return ("", unquote_to_bytes(text))
    scheme = scheme.lower()
    if scheme not in ("sip", "sips"):
        return (scheme, unquote_to_bytes(rest))
    rest, _, headers = rest.partition("?")
    userhost, *params = rest.split(";")
    user, at, hostport = userhost.rpartition("@")
    return (
        scheme,
        unquote_to_bytes(user) if at else None,
        hostport.lower(),
        sorted(_pair(p, "=") for p in params),
        sorted(_pair(h, "=") for h in headers.split("&")) if headers else [],
    )


def _pair(text: str, sep: str) -> tuple[bytes, bool, bytes]:
    name, has_value, value = text.lower().partition(sep)
    return unquote_to_bytes(name), bool(has_value), unquote_to_bytes(value)


def uri_matches(digest_uri: str, request_uri: str) -> bool:
    """Whether the credentials' ``uri`` names the request-URI (RFC 3261 §22.4 item 4)."""
    return digest_uri == request_uri or _normalize_uri(digest_uri) == _normalize_uri(request_uri)


# --- client side ---------------------------------------------------------------------------------

_PREFERENCE = {Algorithm.SHA512_256: 3, Algorithm.SHA256: 2, Algorithm.MD5: 1}


def _pick_qop(challenge: Challenge, body: bytes | None) -> Qop | None:
    offered = {q.lower() for q in challenge.qop}
    if not offered:
        return None
    if Qop.AUTH_INT in offered and (body is not None or Qop.AUTH not in offered):
        return Qop.AUTH_INT
    if Qop.AUTH in offered:
        return Qop.AUTH
    raise ValueError(f"no supported qop among {sorted(offered)}")


def choose_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The strongest usable Digest challenge (SHA-512/256, then SHA-256, then MD5); ties keep
    the server's order. None if no challenge is usable."""
    best: Challenge | None = None
    best_rank = 0
    for challenge in challenges:
        algorithm = Algorithm.from_param(challenge.algorithm)
        if not challenge.is_digest or challenge.realm is None or challenge.nonce is None:
            continue
        if algorithm is None or not algorithm.available:
            continue
        if challenge.qop and not {q.lower() for q in challenge.qop} & {Qop.AUTH, Qop.AUTH_INT}:
            continue
        rank = _PREFERENCE[algorithm.base]
        if rank > best_rank:
            best, best_rank = challenge, rank
    return best


def build_credentials(
    challenge: Challenge,
    *,
    username: str,
    method: str,
    uri: str,
    nc: int,
    cnonce: str,
    password: str | None = None,
    ha1: str | None = None,
    body: bytes | None = None,
) -> Credentials:
    """Answer ``challenge`` (RFC 7616 §3.4). Give ``password`` or the matching base ``ha1``.

    ``auth-int`` is used when offered and ``body`` is given (or ``auth`` is not offered).
    """
    if challenge.realm is None or challenge.nonce is None:
        raise ValueError("the challenge lacks realm or nonce")
    algorithm = Algorithm.from_param(challenge.algorithm)
    if algorithm is None:
        raise ValueError(f"unsupported algorithm {challenge.algorithm!r}")
    if (password is None) == (ha1 is None):
        raise ValueError("give exactly one of password and ha1")
    if not 0 < nc < 2**32:
        raise ValueError("nc must be in 1..2**32-1")
    realm = challenge.realm
    if ha1 is None:
        assert password is not None
        ha1 = compute_ha1(username, realm, password, algorithm)
    qop = _pick_qop(challenge, body)
    nc_text = f"{nc:08x}" if qop is not None else None
    used_cnonce = cnonce if qop is not None or algorithm.is_session else None
    response = compute_response(
        ha1,
        algorithm=algorithm,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=nc_text,
        cnonce=used_cnonce,
        body=body,
    )
    return Credentials(
        username=hash_username(username, realm, algorithm) if challenge.userhash else username,
        realm=realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=algorithm.value if challenge.algorithm is not None else None,
        cnonce=used_cnonce,
        opaque=challenge.opaque,
        qop=qop.value if qop is not None else None,
        nc=nc_text,
        userhash=challenge.userhash,
    )


class NonceCounter:
    """The client's next nonce-count per nonce, remembering at most ``max_nonces`` nonces."""

    def __init__(self, max_nonces: int = 32) -> None:
        self._max = max_nonces
        self._counts: dict[str, int] = {}

    def next(self, nonce: str) -> int:
        count = self._counts.pop(nonce, 0) + 1
        self._counts[nonce] = count
        while len(self._counts) > self._max:
            del self._counts[next(iter(self._counts))]
        return count


def _default_cnonce() -> str:
    return secrets.token_urlsafe(16)


class DigestClient:
    """Answers challenges for one account, counting nonce uses (e.g. a provider registration)."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        cnonce_factory: Callable[[], str] = _default_cnonce,
        max_nonces: int = 32,
    ) -> None:
        self.username = username
        self._password = password
        self._cnonce = cnonce_factory
        self._counter = NonceCounter(max_nonces)

    def authorize(
        self, challenges: Iterable[Challenge], *, method: str, uri: str, body: bytes | None = None
    ) -> Credentials | None:
        """Credentials for the best challenge, or None when none is usable."""
        challenge = choose_challenge(challenges)
        if challenge is None or challenge.nonce is None:
            return None
        return build_credentials(
            challenge,
            username=self.username,
            password=self._password,
            method=method,
            uri=uri,
            nc=self._counter.next(challenge.nonce),
            cnonce=self._cnonce(),
            body=body,
        )
