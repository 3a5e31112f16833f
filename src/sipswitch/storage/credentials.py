"""Secrets at rest: digest HA1 values for SIP accounts (RFC 7616 §3.4.2), argon2 for logins."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass(frozen=True, slots=True)
class DigestHashes:
    """``H(username:realm:password)`` with MD5 and SHA-256, hex, as RFC 7616 §3.4.2 defines A1."""

    md5: str
    sha256: str


def digest_ha1(username: str, realm: str, password: str) -> DigestHashes:
    a1 = f"{username}:{realm}:{password}".encode()
    return DigestHashes(hashlib.md5(a1).hexdigest(), hashlib.sha256(a1).hexdigest())


def generate_password(length: int = 16) -> str:
    """A random password of letters and digits (no look-alikes), from ``secrets``."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


class LoginHasher:
    """Argon2id hashing of customer login passwords."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Check a password; with ``stored`` None, spend the same time and say no."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
