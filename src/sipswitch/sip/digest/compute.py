"""Digest computation (RFC 7616 §3.4.1-3.4.3) with the RFC 8760 algorithms for SIP."""

from __future__ import annotations

import hashlib
from enum import StrEnum


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
        return _BY_NAME.get(value.strip().lower())

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


_BY_NAME = {member.value.lower(): member for member in Algorithm}

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
