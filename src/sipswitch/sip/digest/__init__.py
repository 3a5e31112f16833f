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

from sipswitch.sip.digest.client import (
    DigestClient,
    NonceCounter,
    build_credentials,
    choose_challenge,
)
from sipswitch.sip.digest.compute import (
    Algorithm,
    Qop,
    compute_ha1,
    compute_response,
    digest_hex,
    hash_username,
)
from sipswitch.sip.digest.server import (
    AuthResult,
    DigestServer,
    Ha1Lookup,
    NonceCountGuard,
    uri_matches,
)

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
