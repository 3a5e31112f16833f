"""The client side of digest: choosing a challenge and building credentials (RFC 7616 §3.4)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable

from sipswitch.sip.auth import Challenge, Credentials
from sipswitch.sip.digest.compute import (
    Algorithm,
    Qop,
    compute_ha1,
    compute_response,
    hash_username,
)

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
