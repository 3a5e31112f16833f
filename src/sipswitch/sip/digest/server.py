"""The server side of digest: stateless HMAC nonces, nonce-count replay guard, verification.

Nonces need no storage: ``base64url(timestamp || salt || HMAC(secret, timestamp || salt ||
realm || client address))``; only a bounded highest-nonce-count table refuses replays. Time is
always passed in (``now``).
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import struct
from collections.abc import Callable, Iterable
from enum import StrEnum
from urllib.parse import unquote_to_bytes

from sipswitch.sip.auth import Challenge, Credentials
from sipswitch.sip.digest.compute import Algorithm, Qop, compute_response, digest_hex


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
        self._templates: dict[bool, tuple[tuple[Algorithm, str, str], ...]] = {}

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
        return self._challenges(self.make_nonce(now, client_address), stale)

    def challenge_texts(
        self, now: float, *, client_address: str | None = None, stale: bool = False
    ) -> tuple[tuple[Algorithm, str], ...]:
        """:meth:`challenges` as header values, from templates made once (only the nonce
        changes from one challenge to the next)."""
        templates = self._templates.get(stale)
        if templates is None:
            marker = "N0NCE"
            made = []
            pairs = zip(self.algorithms, self._challenges(marker, stale), strict=True)
            for alg, challenge in pairs:
                head, _, tail = str(challenge).partition(marker)
                made.append((alg, head, tail))
            templates = self._templates[stale] = tuple(made)
        nonce = self.make_nonce(now, client_address)
        return tuple((alg, f"{head}{nonce}{tail}") for alg, head, tail in templates)

    def _challenges(self, nonce: str, stale: bool) -> tuple[Challenge, ...]:
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
