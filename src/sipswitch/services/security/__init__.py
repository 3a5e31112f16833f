"""Abuse defences: brute-force lockout, REGISTER rate limit, scanners, bans."""

from sipswitch.services.security.guard import Ban, BanKind, SecurityGuard, account_key, source_key
from sipswitch.services.security.service import SecurityService, drop

__all__ = [
    "Ban",
    "BanKind",
    "SecurityGuard",
    "SecurityService",
    "account_key",
    "drop",
    "source_key",
]
